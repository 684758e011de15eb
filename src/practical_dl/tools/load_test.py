"""Load on the draw-a-digit page: answers/s, the p50/p99 latency of answers and the p99 of refusals apart,
errors, 503s, and the server's CPU and peak memory (its worker processes included) at several numbers of
clients, for one or more servers side by side, measured with ``wrk``.

Each server is started by this command (``{port}`` in its command line is replaced), pinned to one
core (``taskset -c``), and ``wrk`` to another; for each number of clients every server gets one wrk run
of warm-up and timed part, in turn, so that the servers are compared under the same conditions. wrk's
own latency percentiles mix the fast refusals (503) in with the answers; the tool's Lua script sends
every request with an ``X-Request-ID`` of its own, which the page echoes, and times each answer apart
by its status (LuaJIT's FFI clock), counting only those that come after the warm-up.
The bodies are what the page sends: ``{"image": "data:image/png;base64,..."}`` of a 280x280 white
canvas with a digit in dark ink: real handwritten MNIST *test* digits, enlarged to 200x200 (or, with
``--images FOLDER``, the images there, e.g. ``data/01_raw/my_digits``, fitted into the canvas).

    python -m practical_dl.tools.load_test \\
        --server "before=/path/to/main/.venv/bin/practical-dl-demo --models-dir data/06_models --port {port}" \\
        --server "after=.venv/bin/practical-dl-demo --models-dir data/06_models --port {port}" \\
        --clients 1 8 32 64 --duration 10

``NAME@CPUS=COMMAND`` pins that server to its own CPU list (``NAME@=...``: not pinned), so one run
can compare a server confined to one core with one that may use both.

``--untrained-models DIR`` first writes SimpLeNet and SimpLeNet+ with random weights into DIR
(Kedro's versioned layout), for measuring speed where no trained ones exist: the same networks, so
the same work per request. Needs ``wrk`` (Debian: ``apt-get install wrk``) and ``taskset``.
Figures go to docs/benchmarks.md with the command.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

CANVAS = 280  # the page's drawing canvas, in pixels
RESULT_MARK = "RESULT "

# wrk's script: cycle through the bodies, each request with its own X-Request-ID (the page echoes it), timed with
# LuaJIT's FFI clock from just before it is sent to its answer, so that the latencies of answers (200) and of
# refusals (503) are counted apart; counts by status code in every thread, of the answers that come after the
# warm-up (the same connections go on: no requests abandoned between warm-up and measurement); one JSON line.
LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } load_test_timespec;
int clock_gettime(int clock, load_test_timespec *now);
]]
local clock = ffi.new("load_test_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end
local bodies = {%(bodies)s}
local warmup_us = %(warmup_us)d
local started = nil
local counter = 0
local headers = {["Content-Type"] = "application/json"}
local sent = {}
statuses = {}
answered = {}  -- microseconds, of 200 answers
refused = {}   -- microseconds, of 503 refusals
unmatched = 0  -- answers without the request id they were sent with
wrk.method = "POST"
request = function()
  started = started or now_us()
  counter = counter + 1
  headers["X-Request-ID"] = "lt" .. counter
  sent[counter] = now_us()
  return wrk.format(nil, nil, headers, bodies[(counter %% #bodies) + 1])
end
response = function(status, response_headers, body)
  local now = now_us()
  local id = tonumber(string.match(response_headers["x-request-id"] or response_headers["X-Request-ID"] or "", "^lt(%%d+)$"))
  local start = id and sent[id]
  if id then sent[id] = nil end
  if now < started + warmup_us then return end
  statuses[status] = (statuses[status] or 0) + 1
  if not start then
    unmatched = unmatched + 1
  elseif status == 200 then
    answered[#answered + 1] = now - start
  elseif status == 503 then
    refused[#refused + 1] = now - start
  end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
local function percentile(values, p)
  if #values == 0 then return -1 end
  return values[math.max(1, math.ceil(p / 100 * #values))]
end
done = function(summary, latency, requests)
  local counts, ok, no, lost = {}, {}, {}, 0
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do counts[code] = (counts[code] or 0) + n end
    for _, v in ipairs(t:get("answered")) do ok[#ok + 1] = v end
    for _, v in ipairs(t:get("refused")) do no[#no + 1] = v end
    lost = lost + t:get("unmatched")
  end
  table.sort(ok)
  table.sort(no)
  local parts = {}
  for code, n in pairs(counts) do table.insert(parts, string.format('"%%d": %%d', code, n)) end
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "window_us": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, '
    .. '"ok_p50_us": %%d, "ok_p99_us": %%d, "ok_max_us": %%d, "refused_p50_us": %%d, "refused_p99_us": %%d, "unmatched": %%d, '
    .. '"connect_errors": %%d, "read_errors": %%d, "write_errors": %%d, "timeouts": %%d, "statuses": {%%s}}\n',
    summary.requests, summary.duration, summary.duration - warmup_us, latency:percentile(50), latency:percentile(99), latency.max,
    percentile(ok, 50), percentile(ok, 99), percentile(ok, 100), percentile(no, 50), percentile(no, 99), lost,
    e.connect, e.read, e.write, e.timeout, table.concat(parts, ", ")))
end
"""


@dataclass
class LevelResult:
    """One timed run of ``wrk`` against one server at one number of clients."""

    server: str
    clients: int
    requests_per_s: float  # answers with status 200 per second
    p50_ms: float  # of the 200 answers
    p99_ms: float  # of the 200 answers
    errors: int  # answers other than 200 and 503, and socket errors and timeouts
    refused_503: int
    peak_rss_mib: float  # the server's VmHWM after this run (the peak so far), its worker processes' added
    refused_p99_ms: float = float("nan")  # of the 503 refusals (nan: none)
    all_p99_ms: float = float("nan")  # wrk's own, over every response, refusals included
    cpu_cores: float = float("nan")  # CPU time of the server and its worker processes during the run, per second


def canvas_body(image: Image.Image) -> str:
    """The JSON body of ``POST /api/predict`` as the page sends it: ``image`` fitted into a white 280x280 canvas, a PNG data URL."""
    image = image.convert("RGB")
    image.thumbnail((CANVAS, CANVAS))
    canvas = Image.new("RGB", (CANVAS, CANVAS), "white")
    canvas.paste(image, ((CANVAS - image.width) // 2, (CANVAS - image.height) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return json.dumps({"image": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()})


def page_bodies(folder: Path | None = None, count: int = 16) -> list[str]:
    """Bodies of ``count`` MNIST test digits (dark ink, 200x200 in the canvas), or of the images in ``folder``."""
    if folder is None:
        from practical_dl.tools.digit_images import load_mnist_test

        images, _ = load_mnist_test()
        return [canvas_body(Image.fromarray(255 - images[k]).resize((200, 200), Image.Resampling.BILINEAR)) for k in range(count)]
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))[:count]
    if not files:
        raise SystemExit(f"load_test: no images in {folder}")
    bodies = []
    for path in files:
        with Image.open(path) as image:
            bodies.append(canvas_body(image))
    return bodies


def lua_script(bodies: Sequence[str], warmup_s: float = 0.0) -> str:
    """wrk's Lua script posting ``bodies`` in turn, counting the answers that come ``warmup_s`` after the first request."""
    return LUA % {"bodies": ", ".join(f"[==[{b}]==]" for b in bodies), "mark": RESULT_MARK, "warmup_us": int(warmup_s * 1e6)}


def parse_result(output: str) -> dict:
    """The JSON line the Lua script prints at the end of a wrk run."""
    for line in output.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    raise ValueError(f"wrk printed no result line:\n{output[-2000:]}")


def summarise(server: str, clients: int, result: dict, peak_rss_mib: float, cpu_cores: float = float("nan")) -> LevelResult:
    """A wrk result as one row of the table."""
    statuses = {int(k): v for k, v in result["statuses"].items()}
    ok, refused = statuses.get(200, 0), statuses.get(503, 0)
    socket_errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    other = sum(n for code, n in statuses.items() if code not in (200, 503))

    def ms(key: str) -> float:
        return result[key] / 1000 if result.get(key, -1) >= 0 else float("nan")

    return LevelResult(
        server=server,
        clients=clients,
        requests_per_s=ok / (result.get("window_us", result["duration_us"]) / 1e6),
        p50_ms=ms("ok_p50_us"),
        p99_ms=ms("ok_p99_us"),
        errors=other + socket_errors,
        refused_503=refused,
        peak_rss_mib=peak_rss_mib,
        refused_p99_ms=ms("refused_p99_us"),
        all_p99_ms=ms("p99_us"),
        cpu_cores=cpu_cores,
    )


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the page's worker processes), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time of these processes so far, in seconds."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory (VmHWM), in MiB, its descendants' added."""
    total = 0.0
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total += next((int(line.split()[1]) / 1024 for line in lines if line.startswith("VmHWM:")), 0.0)
    return total


def pinned(cpu: str | None, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *command] if cpu and shutil.which("taskset") else command


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "api/models", timeout=2):
                return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"load_test: the server {process.args} exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"load_test: no answer from {url} after {timeout:.0f} s") from None
            time.sleep(0.3)


def run_wrk(url: str, script: Path, clients: int, seconds: int, cpu: str | None) -> dict:
    """One wrk run of ``seconds`` (whole: wrk takes no fractions) with ``clients`` connections; its result line as a dict."""
    command = pinned(
        cpu, ["wrk", "-t", "1", "-c", str(clients), "-d", f"{int(seconds)}s", "--timeout", "10s", "-s", str(script), url + "api/predict"]
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise SystemExit(f"load_test: {' '.join(command)} failed:\n{(done.stderr or done.stdout)[-2000:]}")
    return parse_result(done.stdout)


def markdown(results: Sequence[LevelResult]) -> str:
    """The results as a Markdown table, servers side by side for each number of clients."""
    lines = [
        "| clients | server | answered/s (200) | p50 ms (200) | p99 ms (200) | p99 ms (503) | p99 ms (all, wrk) | 503s | errors "
        "| server CPU (cores) | server peak RSS MiB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def number(x: float, digits: int = 1) -> str:
        return "–" if math.isnan(x) else f"{x:,.{digits}f}"

    for r in results:
        latencies = " | ".join(number(x) for x in (r.p50_ms, r.p99_ms, r.refused_p99_ms, r.all_p99_ms))
        lines.append(
            f"| {r.clients} | {r.server} | {r.requests_per_s:,.0f} | {latencies} | {r.refused_503:,} | {r.errors} | "
            f"{number(r.cpu_cores, 2)} | {r.peak_rss_mib:,.0f} |"
        )
    return "\n".join(lines)


def write_untrained_models(folder: Path) -> None:
    """SimpLeNet and SimpLeNet+ with random weights in Kedro's versioned layout under ``folder`` (for speed only)."""
    import torch

    from practical_dl.core.standardise import Standardiser
    from practical_dl.models.classifier import make_classifier, save_classifier
    from practical_dl.models.networks import build_model

    specs = {
        "simplenet": {"name": "simplenet", "label": "SimpLeNet"},
        "simplenet_plus": {"name": "simplenet", "label": "SimpLeNet+", "options": {"batch_norm": True, "dropout": 0.25}},
    }
    for seed, (model, params) in enumerate(specs.items()):
        torch.manual_seed(seed)
        network = build_model("simplenet", in_channels=1, image_size=28, num_classes=10, **params.get("options", {}))
        classifier = make_classifier(network, Standardiser((0.1307,), (0.3081,), 255.0), params, 1, 28)
        version = Path(folder) / f"{model}.safetensors" / "0000-untrained-for-load-tests"
        version.mkdir(parents=True, exist_ok=True)
        save_classifier(classifier, version / f"{model}.safetensors")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m practical_dl.tools.load_test", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server",
        action="append",
        required=True,
        metavar="NAME[@CPUS]=COMMAND",
        help="a server to start ({port} is replaced); @CPUS: its own taskset CPU list instead of --server-cpu ('@' alone: not pinned)",
    )
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[1, 8, 32, 64], help="numbers of concurrent clients (default: %(default)s)"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of each timed run (default: %(default)s)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="seconds of load before each timed run, on the same connections, not counted (default: %(default)s)",
    )
    parser.add_argument("--images", type=Path, metavar="FOLDER", help="digit images to send (default: 16 MNIST test digits)")
    parser.add_argument(
        "--port", type=int, default=8101, help="the first server's port; the next get the following ones (default: %(default)s)"
    )
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list of the servers (default: %(default)s; '' not to pin)")
    parser.add_argument("--client-cpu", default="1", help="taskset CPU list of wrk (default: %(default)s; '' not to pin)")
    parser.add_argument("--untrained-models", type=Path, metavar="DIR", help="first write random-weight SimpLeNet and SimpLeNet+ into DIR")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("load_test: needs wrk (Debian: apt-get install wrk)")
    if args.untrained_models:
        write_untrained_models(args.untrained_models)

    servers: dict[str, subprocess.Popen] = {}
    placement: dict[str, str] = {}  # server -> its taskset CPU list ('' for none)
    urls: dict[str, str] = {}
    results: list[LevelResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "page.lua"
        script.write_text(lua_script(page_bodies(args.images), args.warmup))
        try:
            for k, spec in enumerate(args.server):
                label, sep, command = spec.partition("=")
                if not sep:
                    raise SystemExit(f"load_test: --server {spec!r} is not NAME=COMMAND")
                name, at, cpus = label.partition("@")  # NAME@CPUS=...: this server's own taskset list ('' for none)
                placement[name] = cpus if at else args.server_cpu
                port = args.port + k
                words = shlex.split(command.replace("{port}", str(port)))
                servers[name] = subprocess.Popen(pinned(placement[name], words), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                urls[name] = f"http://127.0.0.1:{port}/"
            for name, process in servers.items():
                wait_until_up(urls[name], process)
                print(f"{name}: up, RSS peak {peak_rss_mib(process.pid):,.0f} MiB", file=sys.stderr)
            for clients in args.clients:
                for name, process in servers.items():
                    tree = process_tree(process.pid)
                    before = cpu_seconds(tree)
                    result = run_wrk(urls[name], script, clients, args.warmup + args.duration, args.client_cpu)
                    cores = (cpu_seconds(tree) - before) / (result["duration_us"] / 1e6)  # warm-up included
                    row = summarise(name, clients, result, peak_rss_mib(process.pid), cores)
                    results.append(row)
                    print(markdown([row]).splitlines()[-1], file=sys.stderr)
        finally:
            for process in servers.values():
                process.terminate()
            for process in servers.values():
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
    where = ", ".join(f"{name} on CPU {cpus or 'any'}" for name, cpus in placement.items())
    print(f"{os.cpu_count()} CPUs; {where}; wrk on CPU {args.client_cpu or 'any'}; {args.warmup} s warm-up and {args.duration} s per run")
    print(markdown(results))


if __name__ == "__main__":
    main()
