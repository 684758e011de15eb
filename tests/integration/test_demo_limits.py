"""The draw-a-digit page as a real server (``practical-dl-demo`` in a subprocess): a 60 MB body is refused
with 413 before it is read, whether announced by Content-Length or sent chunked, and the server's memory
does not grow with it; the server goes on answering."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from practical_dl.models.classifier import save_classifier
from tests.conftest import free_port, stop_process, wait_until_answers
from tests.serving.demo import png_data_url, post_json, seven, small_classifiers

pytestmark = pytest.mark.integration

SIXTY_MB = 60 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python -m practical_dl.serving.demo.app`` on a free port with two small models; yields (url, pid, log file)."""
    models = tmp_path_factory.mktemp("models")
    for name, classifier in small_classifiers().items():
        version = models / f"{name}.safetensors" / "2024-01-01T00.00.00.000Z"
        version.mkdir(parents=True)
        save_classifier(classifier, version / f"{name}.safetensors")
    port = free_port()
    log = (models / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "practical_dl.serving.demo.app", "--models-dir", str(models), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    server_log = models / "server.log"
    wait_until_answers(url + "readyz", lambda: None if process.poll() is None else server_log.read_text()[-3000:], "the demo server", 60)
    try:
        yield url, process.pid, server_log
    finally:
        stop_process(process)
        log.close()


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def send_huge(port: int, chunked: bool) -> bytes:
    """Send the headers of a 60 MB POST and then as much of its body as the server takes; return what it answered.

    A raw socket: a client that insists on uploading everything may see the connection reset instead
    of the 413, so this one stops sending once an answer has arrived or the server stops reading."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {SIXTY_MB}"
        sock.sendall(f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode())
        piece = b"x" * 65536
        if chunked:
            piece = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        sock.settimeout(2)
        sent = 0
        while sent < SIXTY_MB and not select.select([sock], [], [], 0.01)[0]:  # until the server answers
            try:
                sock.sendall(piece)
            except OSError:  # the server stopped reading and closed the connection after its answer
                break
            sent += 65536
        answer = b""
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        return answer


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_60_mb_body_gets_413_and_the_server_does_not_grow(server, chunked):
    url, pid, _ = server
    before = peak_memory_mb(pid)
    answer = send_huge(int(url.rsplit(":", 1)[1].strip("/")), chunked)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:500]
    assert json.loads(body)["status"] == "too_large"
    assert peak_memory_mb(pid) - before < 50
    # and it goes on answering
    assert post_json(url + "api/predict", {"image": png_data_url(seven)})["status"] == "ok"
    with urllib.request.urlopen(url + "metrics", timeout=10) as response:
        assert 'practical_dl_demo_refused_total{reason="too_large"}' in response.read().decode()


def test_the_server_logs_each_request_with_its_id(server):
    url, _, log = server
    request = urllib.request.Request(url + "healthz", headers={"X-Request-ID": "log-me-123"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["X-Request-ID"] == "log-me-123"
    deadline = time.monotonic() + 5
    while not any("[log-me-123]" in line and '"GET /healthz" 200' in line for line in log.read_text().splitlines()):
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.05)
