"""What the tests of the draw-a-digit page share: small untrained classifiers, drawings, the app run in-process, a POST over HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import urllib.error
import urllib.request
from collections.abc import Callable

import torch
from PIL import Image, ImageDraw

from practical_dl.core.standardise import Standardiser
from practical_dl.models.classifier import make_classifier
from practical_dl.models.networks import SimpLeNet
from tests.serving.asgi import Answer, call

MODELS = {"simplenet": "SimpLeNet", "simplenet_plus": "SimpLeNet+"}
JSON = {"content-type": "application/json"}


def small_classifier(seed: int, label: str, **options):
    """An untrained SimpLeNet (``options``: batch_norm, dropout) wrapped as the page's classifiers are."""
    torch.manual_seed(seed)
    return make_classifier(SimpLeNet(**options), Standardiser((0.1307,), (0.3081,), 255.0), {"name": "simplenet", "label": label}, 1, 28)


def small_classifiers() -> dict:
    """The page's two models, untrained: SimpLeNet and SimpLeNet+ (batch norm and dropout, as the trained one)."""
    return {
        "simplenet": small_classifier(0, "SimpLeNet"),
        "simplenet_plus": small_classifier(1, "SimpLeNet+", batch_norm=True, dropout=0.25),
    }


def png_data_url(draw: Callable | None = None, size: int = 280) -> str:
    """A white canvas (what the page sends), with dark strokes drawn by ``draw``."""
    image = Image.new("RGB", (size, size), "white")
    if draw is not None:
        draw(ImageDraw.Draw(image))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def seven(d) -> None:
    d.line([(80, 60), (200, 60), (120, 230)], fill="black", width=18)


def post_json(url: str, payload: dict, expect: int = 200) -> dict:
    """POST ``payload`` to a real server; the answer's JSON, after checking its HTTP status is ``expect``."""
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    assert status == expect, (status, body[:500])
    return json.loads(body)


def predict_body(image: str) -> bytes:
    return json.dumps({"image": image}).encode()


async def post_predict(app, image: str, headers: dict | None = None) -> Answer:
    return await call(app, "POST", "/api/predict", predict_body(image), {**JSON, **(headers or {})})


def run_with(app, scenario) -> None:
    """Run ``await scenario()`` with the app's lifespan (its micro-batcher) running."""

    async def main():
        async with app.router.lifespan_context(app):
            await scenario()

    asyncio.run(main())
