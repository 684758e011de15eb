"""The draw-a-digit page's API in-process: status codes, limits, overload, deadline, headers, ids, metrics, token."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import re
import time

import numpy as np
import pytest
from PIL import Image

from practical_dl.serving.demo.app import create_app, main, package_file, page_html
from practical_dl.serving.demo.limits import Limits
from practical_dl.serving.demo.request_id import RequestIdFilter
from practical_dl.serving.demo.security import SECURITY_HEADERS, exposure_problem
from tests.serving.asgi import call
from tests.serving.demo import JSON, MODELS, png_data_url, post_predict, run_with, seven, small_classifiers


@pytest.fixture(scope="module")
def classifiers():
    return small_classifiers()


def slowed(classifiers, seconds: float) -> dict:
    """The classifiers, each forward pass taking ``seconds`` longer (a busy server)."""
    slow = small_classifiers()
    for classifier in slow.values():
        fast = classifier.probabilities
        classifier.probabilities = lambda images, fast=fast: (time.sleep(seconds), fast(images))[1]
    return slow


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encode_as(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    return encode_as(image, "PNG")


def test_a_drawing_is_predicted_and_a_blank_canvas_is_a_valid_answer(classifiers):
    app = create_app(classifiers)

    async def scenario():
        ok = await post_predict(app, png_data_url(seven))
        assert ok.status == 200 and ok.headers["content-type"] == "application/json"
        answer = ok.json()
        assert answer["status"] == "ok" and np.asarray(answer["input28"]).shape == (28, 28)
        assert [m["name"] for m in answer["models"]] == list(MODELS)
        for m in answer["models"]:
            assert sum(m["probabilities"]) == pytest.approx(1, abs=1e-4)
            assert m["prediction"] == m["class_names"][int(np.argmax(m["probabilities"]))]
        blank = await post_predict(app, png_data_url())
        assert blank.status == 200
        assert blank.json()["status"] == "no_ink" and blank.json()["models"] == [] and blank.json()["input28"] is None

    run_with(app, scenario)


@pytest.mark.parametrize(
    ("image", "status", "words"),
    [
        ("data:image/png;base64,not base64!", "unreadable", "not valid base64"),
        ("data:image/png,plain", "unreadable", "not base64-encoded"),
        (b64(b"shopping list: milk, eggs"), "unreadable", "accepted formats"),
        (b64(encode_as(Image.new("RGB", (64, 64), "white"), "PPM")), "unreadable", "accepted formats (PNG, JPEG"),
        (b64(png_bytes(Image.new("RGB", (64, 64), "white"))[:60]), "unreadable", "not a readable image"),
        ("", "empty", "empty"),
    ],
)
def test_unreadable_images_get_422_with_a_reason_and_never_the_input_back(classifiers, image, status, words):
    app = create_app(classifiers)

    async def scenario():
        answer = await post_predict(app, image)
        assert answer.status == 422
        assert answer.json()["status"] == status and words in answer.json()["reason"]
        if len(image) > 8:
            assert image not in answer.body.decode()

    run_with(app, scenario)


def test_a_body_that_is_not_the_request_gets_422_invalid_request(classifiers):
    app = create_app(classifiers)

    async def scenario():
        for body in (b"{", b'{"picture": "x"}', b'{"image": 7}', b"[]"):
            answer = await call(app, "POST", "/api/predict", body, JSON)
            assert answer.status == 422, body
            assert answer.json()["status"] == "invalid_request" and "image" in answer.json()["reason"]

    run_with(app, scenario)


def test_a_body_over_the_limit_gets_413_before_it_is_read(classifiers):
    app = create_app(classifiers, Limits(max_body_bytes=10_000))

    async def scenario():
        announced = await call(app, "POST", "/api/predict", b"x" * 10_001, JSON)
        assert announced.status == 413 and announced.json()["status"] == "too_large"
        assert "10,000 bytes" in announced.json()["reason"]
        # chunked: counted as it arrives; the third piece crosses the limit, the fourth is never read
        chunked = await call(app, "POST", "/api/predict", [b"x" * 4000] * 4, JSON)
        assert chunked.status == 413 and chunked.json()["status"] == "too_large"
        assert chunked.unread == 1
        small = await call(app, "POST", "/api/predict", _split(png_data_url(seven)), JSON)
        assert small.status == 200 and small.json()["status"] == "ok"  # a chunked body under the limit is read whole

    run_with(app, scenario)


def _split(image: str) -> list[bytes]:
    body = json.dumps({"image": image}).encode()
    return [body[i : i + 1000] for i in range(0, len(body), 1000)]


def test_overload_gets_a_fast_503_with_retry_after_and_the_server_recovers(classifiers):
    app = create_app(slowed(classifiers, 0.4), Limits(max_concurrent=2))

    async def scenario():
        busy = [asyncio.create_task(post_predict(app, png_data_url(seven))) for _ in range(2)]
        await asyncio.sleep(0.1)  # both are in flight now
        start = time.perf_counter()
        refused = await post_predict(app, png_data_url(seven))
        assert time.perf_counter() - start < 0.3  # refused at once, not queued behind the busy ones
        assert refused.status == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["status"] == "overloaded"
        assert [a.status for a in await asyncio.gather(*busy)] == [200, 200]
        again = await post_predict(app, png_data_url(seven))
        assert again.status == 200 and again.json()["status"] == "ok"
        metrics = (await call(app, "GET", "/metrics")).body.decode()
        assert 'practical_dl_demo_refused_total{reason="overloaded"} 1.0' in metrics

    run_with(app, scenario)


def test_a_prediction_past_its_deadline_gets_504(classifiers):
    app = create_app(slowed(classifiers, 0.5), Limits(deadline_s=0.1))

    async def scenario():
        late = await post_predict(app, png_data_url(seven))
        assert late.status == 504 and late.json()["status"] == "deadline_exceeded"

    run_with(app, scenario)


def test_every_response_of_the_page_carries_the_security_headers(classifiers):
    app = create_app(classifiers)

    async def scenario():
        for method, path in (("GET", "/"), ("GET", "/static/page.js"), ("GET", "/static/page.css"), ("GET", "/nowhere")):
            answer = await call(app, method, path)
            for name, value in SECURITY_HEADERS.items():
                assert answer.headers[name.lower()] == value, (path, name)
        refused = await call(app, "POST", "/api/predict", b"x" * 3_000_000, JSON)
        assert refused.status == 413 and refused.headers["x-frame-options"] == "DENY"
        page = await call(app, "GET", "/")
        assert page.status == 200 and page.body.decode() == page_html()
        script = await call(app, "GET", "/static/page.js")
        assert script.headers["content-type"].startswith("text/javascript") and b"api/predict" in script.body

    run_with(app, scenario)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    # nothing inline for the policy to block: no <style>, no script without src, no style or on* attributes
    html = page_html()
    assert "<style" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\s(style|on[a-z]+)=", html)
    assert package_file("static/page.css").strip() and package_file("static/page.js").strip()


def test_health_readiness_and_metrics(classifiers):
    app = create_app(classifiers)

    async def not_started():
        assert (await call(app, "GET", "/healthz")).status == 200
        ready = await call(app, "GET", "/readyz")
        assert ready.status == 503 and ready.json()["status"] == "not_ready"

    asyncio.run(not_started())  # no lifespan: the batcher does not run

    async def scenario():
        assert (await call(app, "GET", "/readyz")).json()["status"] == "ok"
        await post_predict(app, png_data_url(seven))
        await post_predict(app, "not an image")
        await call(app, "POST", "/api/predict", b"x" * 3_000_000, JSON)
        metrics = await call(app, "GET", "/metrics")
        assert metrics.status == 200 and metrics.headers["content-type"].startswith("text/plain")
        text = metrics.body.decode()
        for line in (
            'practical_dl_demo_requests_total{route="/api/predict",status="200"} 1.0',
            'practical_dl_demo_requests_total{route="/api/predict",status="422"} 1.0',
            'practical_dl_demo_requests_total{route="/api/predict",status="413"} 1.0',
            'practical_dl_demo_refused_total{reason="too_large"} 1.0',
            "practical_dl_demo_batch_size_count 2.0",
        ):
            assert line in text, line
        assert 'practical_dl_demo_request_duration_seconds_count{route="/api/predict"} 3.0' in text

    run_with(app, scenario)


def test_the_request_id_is_taken_if_sane_else_made_and_is_in_the_log_line(classifiers, caplog):
    app = create_app(classifiers)
    ids = []

    async def scenario():
        given = await call(app, "GET", "/healthz", headers={"X-Request-ID": "trace-42.a:b"})
        assert given.headers["x-request-id"] == "trace-42.a:b"
        ids.append(given.headers["x-request-id"])
        for insane in ("x" * 200, "a b", "<script>"):
            made = await call(app, "GET", "/healthz", headers={"X-Request-ID": insane})
            assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
            ids.append(made.headers["x-request-id"])
        assert len(set(ids)) == 4

    caplog.handler.addFilter(RequestIdFilter())  # as main() installs it on its log handler
    with caplog.at_level(logging.INFO, logger="practical_dl.serving.demo.access"):
        run_with(app, scenario)
    lines = [r for r in caplog.records if r.name == "practical_dl.serving.demo.access"]
    assert [r.request_id for r in lines] == ids
    assert all('"GET /healthz" 200' in r.getMessage() for r in lines)


def test_with_a_token_the_api_needs_it_and_the_page_stays_public(classifiers):
    app = create_app(classifiers, token="s3cret")

    async def scenario():
        assert (await call(app, "GET", "/")).status == 200
        assert (await call(app, "GET", "/healthz")).status == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            refused = await post_predict(app, png_data_url(seven), headers)
            assert refused.status == 401 and refused.json()["status"] == "unauthorized"
            assert refused.headers["www-authenticate"] == "Bearer"
        assert (await call(app, "GET", "/metrics")).status == 401
        ok = await post_predict(app, png_data_url(seven), {"Authorization": "Bearer s3cret"})
        assert ok.status == 200 and ok.json()["status"] == "ok"
        schema = (await call(app, "GET", "/openapi.json")).json()
        assert "401" in schema["paths"]["/api/predict"]["post"]["responses"]

    run_with(app, scenario)


def test_a_host_beyond_this_machine_needs_a_token_or_open(capsys):
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert exposure_problem(host, None, False) is None, host
    for host in ("0.0.0.0", "::", "192.0.2.7", "example.org"):
        assert "--token" in exposure_problem(host, None, False)
        assert exposure_problem(host, "t", False) is None and exposure_problem(host, None, True) is None
    with pytest.raises(SystemExit) as stopped:
        main(["--host", "0.0.0.0", "--models-dir", "/nonexistent"])
    assert stopped.value.code == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "--host 0.0.0.0" in message and "--open" in message


def test_the_openapi_schema_types_every_answer(classifiers):
    app = create_app(classifiers)

    async def scenario():
        schema = (await call(app, "GET", "/openapi.json")).json()
        predict = schema["paths"]["/api/predict"]["post"]["responses"]
        assert predict["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Prediction")
        for code in ("413", "422", "503", "504"):
            assert predict[code]["content"]["application/json"]["schema"]["$ref"].endswith("/Problem"), code
        assert set(schema["components"]["schemas"]["Problem"]["required"]) == {"status", "reason"}
        assert "HTTPValidationError" not in schema["components"]["schemas"]  # 422 is a Problem, like every refusal
        assert {"/api/models", "/api/predict", "/healthz", "/readyz"} <= set(schema["paths"])

    run_with(app, scenario)
