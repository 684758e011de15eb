"""What the page's API answers, as Pydantic models: FastAPI validates every answer against them and
publishes them in ``/openapi.json``, so a client knows each status code's body.

Every refusal has the same body, :class:`Problem`: ``{"status": "<code word>", "reason": "<sentence>"}``.
The code words are stable (clients may branch on them); the reasons are for people.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

#: A blank canvas is a valid answer (200), not an error: the drawing simply has no ink yet.
STATUS_NO_INK = "no_ink"


class PredictRequest(BaseModel):
    """The body of ``POST /api/predict``."""

    image: str = Field(description="a PNG (or JPEG, BMP, GIF) as a data URL (data:image/png;base64,...) or as plain base64")


class ModelInfo(BaseModel):
    """One classifier the page shows."""

    name: str = Field(description="the model's name in the catalog, e.g. simplenet")
    label: str = Field(description="its name for people, e.g. SimpLeNet+")
    class_names: list[str]


class ModelList(BaseModel):
    """The answer of ``GET /api/models``."""

    models: list[ModelInfo]


class ModelPrediction(ModelInfo):
    """One classifier's reading of the drawing."""

    prediction: str = Field(description="the most probable class")
    probabilities: list[float] = Field(description="one per class, in the order of class_names; they sum to 1")


class Prediction(BaseModel):
    """The answer of ``POST /api/predict`` for a readable image: ``ok`` (with the networks' input and
    every model's probabilities) or ``no_ink`` (a blank canvas: ``input28`` null, no models)."""

    status: Literal["ok", "no_ink"]
    reason: str = Field(description="a note for people (e.g. 'inverted (dark ink on light paper)'), or why there is no prediction")
    input28: list[list[int]] | None = Field(description="the 28x28 image the networks receive (0-255, ink bright), null for no_ink")
    models: list[ModelPrediction]


class Problem(BaseModel):
    """A refused request: a stable code word and a sentence for people."""

    status: str = Field(
        description=(
            "unreadable, empty, too_large (an image with too many pixels, or a body over the limit), invalid_request, "
            "unauthorized, overloaded, deadline_exceeded; not_found, method_not_allowed"
        )
    )
    reason: str


class Health(BaseModel):
    """The answer of ``GET /healthz`` and ``GET /readyz``."""

    status: Literal["ok", "not_ready"]
    reason: str = ""


def problem_responses(*codes: int) -> dict[int | str, dict]:
    """FastAPI's ``responses=`` for these refusals, each with the :class:`Problem` body."""
    descriptions = {
        400: "the body cannot be parsed at all, e.g. not UTF-8 (status: invalid_request)",
        401: "no or a wrong bearer token (only when the server was started with --token)",
        413: "the body is larger than the server's limit (--max-body-bytes)",
        422: "the body or the image cannot be read (status: invalid_request, unreadable, empty, too_large)",
        503: "overloaded: as many requests in flight as the server answers in time (--wait-target-ms, --max-concurrent); "
        "retry after Retry-After seconds",
        504: "the request took longer than the server's deadline (--deadline)",
    }
    return {code: {"model": Problem, "description": descriptions[code]} for code in codes}


class Refusal(Exception):
    """Raised by an endpoint to answer ``status_code`` with a :class:`Problem` body (and ``headers``)."""

    def __init__(self, status_code: int, status: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.status = status
        self.reason = reason
        self.headers = headers or {}


def problem_body(status: str, reason: str) -> bytes:
    """The JSON bytes of a :class:`Problem`."""
    return Problem(status=status, reason=reason).model_dump_json().encode()
