import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from practical_dl.project.hooks.mlflow_store import check_tracking_server
from tests.conftest import free_port


@pytest.fixture
def server():
    """A loopback HTTP server answering every GET with the status in ``server.status``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(httpd.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    httpd.status = 200
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_a_server_that_does_not_answer_is_named():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError, match=rf"the MLflow tracking server {uri} .* does not answer: .*make tracking-server"):
        check_tracking_server(uri, timeout_s=5)


@pytest.mark.parametrize("status", [200, 401, 404])
def test_any_http_answer_counts_as_answering(server, status):
    server.status = status
    check_tracking_server(f"http://127.0.0.1:{server.server_address[1]}/")


def test_local_stores_are_not_checked():
    check_tracking_server("sqlite:////nonexistent/folder/mlflow.db")
    check_tracking_server("")
