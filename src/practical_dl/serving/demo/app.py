"""The draw-a-digit page: FastAPI serving the page, its two static files and a JSON prediction API.

* ``GET /``: the page (``static/index.html``), with ``/static/page.css`` and ``/static/page.js``;
  nothing from the internet, nothing inline (the Content-Security-Policy allows only these);
* ``GET /api/models``: the classifiers served (:class:`~practical_dl.serving.demo.schemas.ModelList`);
* ``POST /api/predict`` with ``{"image": "<data URL or base64 of a PNG>"}``: the drawing prepared by
  :func:`practical_dl.serving.inference.prepare_inputs` (the MNIST recipe, as in the ``predict``
  pipeline and the MLflow model) and classified by every model, batched with concurrent requests
  (:mod:`practical_dl.serving.batching`) in worker processes (:mod:`practical_dl.serving.demo.worker`).
  200: status ``ok`` with ``input28`` and each model's probabilities, or ``no_ink`` (a blank canvas).
  Refused with ``{"status", "reason"}``: 413 (body over the limit), 422 (``unreadable``, ``empty``,
  ``too_large``, ``invalid_request``), 503 (``overloaded``, with Retry-After: admission control,
  :mod:`practical_dl.serving.demo.limits`), 504 (``deadline_exceeded``), 401 (``unauthorized``, with ``--token``);
* ``GET /healthz`` (alive), ``GET /readyz`` (models loaded and the batcher running, else 503),
  ``GET /metrics`` (Prometheus), ``GET /openapi.json`` (every answer's schema).

``main`` is the console script ``practical-dl-demo``: it loads the newest trained version of each
model from ``data/06_models`` and runs uvicorn on 127.0.0.1:8000 (limits and batching: ``--help``).
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from practical_dl.models.classifier import DigitClassifier, latest_classifier_file, load_classifier
from practical_dl.serving.batching import MicroBatcher
from practical_dl.serving.demo.drawings import predict_drawings
from practical_dl.serving.demo.limits import Admission, AdmissionControl, BodySizeLimit, Limits, within_deadline
from practical_dl.serving.demo.request_id import RequestContext, RequestIdFilter, RequestRecorder
from practical_dl.serving.demo.schemas import (
    Health,
    ModelInfo,
    ModelList,
    Prediction,
    PredictRequest,
    Problem,
    Refusal,
    problem_responses,
)
from practical_dl.serving.demo.security import SECURITY_HEADERS, BearerToken, SecurityHeaders, exposure_problem
from practical_dl.serving.demo.worker import PredictionWorkers, usable_cores
from practical_dl.serving.metrics import CONTENT_TYPE, ServingMetrics

logger = logging.getLogger(__name__)

DEFAULT_MODELS = ("simplenet", "simplenet_plus")
DEFAULT_MODELS_DIR = Path("data") / "06_models"
DEFAULT_MAX_BATCH = 32
DEFAULT_BATCH_WINDOW_MS = 3.0
PAGE = "static/index.html"
#: The page's files besides itself: URL path -> (file in the package, media type).
STATIC = {
    "/static/page.css": ("static/page.css", "text/css; charset=utf-8"),
    "/static/page.js": ("static/page.js", "text/javascript; charset=utf-8"),
}
ROUTES = ("/", *STATIC, "/api/models", "/api/predict", "/healthz", "/readyz", "/metrics", "/openapi.json")


def package_file(name: str) -> str:
    """A file of the page, read from the package (``practical_dl/serving/demo/static/...``)."""
    resource = files("practical_dl.serving.demo").joinpath(name)
    try:
        return resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuntimeError(
            f"the page's file {name} is missing from the installed package practical_dl.serving.demo; "
            "it must be installed as package data (see [tool.setuptools.package-data] in pyproject.toml)"
        ) from None


def page_html() -> str:
    """The page, read from the package (``practical_dl/serving/demo/static/index.html``)."""
    return package_file(PAGE)


class PageApp(FastAPI):
    """FastAPI with the page's admission control in front of everything, FastAPI's own work included: a request
    refused for overload costs the reading of its headers and two prepared messages (docs/using-models.md)."""

    admission_gate: AdmissionControl | None = None
    authorised: Callable[[dict], bool] | None = None  # with a token: requests without it go on to get their 401

    async def __call__(self, scope, receive, send) -> None:
        gate = self.admission_gate
        if gate is None or scope["type"] != "http" or (self.authorised is not None and not self.authorised(scope)):
            return await super().__call__(scope, receive, send)
        await gate(scope, receive, send)


def _validation_reason(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(x) for x in error.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return 'the request is not {"image": "<data URL or base64>"}: ' + "; ".join(parts)


def create_app(
    classifiers: Mapping[str, DigitClassifier],
    limits: Limits | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    batch_window_ms: float = DEFAULT_BATCH_WINDOW_MS,
    token: str | None = None,
    workers: int = 0,
) -> FastAPI:
    """The page and its API around ``{model name: classifier}`` (shown in this order), with the
    limits, batching and (optional) bearer token given. The predictions run while the app's lifespan
    does: with ``workers`` = 0 in a batcher thread of this process, else in that many worker processes
    (:class:`~practical_dl.serving.demo.worker.PredictionWorkers`; ``practical-dl-demo`` runs one per
    core)."""
    if not classifiers:
        raise ValueError("the draw-a-digit page needs at least one classifier")
    classifiers = dict(classifiers)
    for classifier in classifiers.values():
        classifier.eval()
    limits = limits or Limits()
    html = page_html()
    static = {path: (package_file(name), media_type) for path, (name, media_type) in STATIC.items()}
    metrics = ServingMetrics()
    admission = Admission(limits.max_concurrent, limits.wait_target_s, max_batch, max(1, workers), limits.refusals_per_answer)
    metrics.watch_admission(admission)

    def observe_batch(size: int, seconds: float) -> None:
        metrics.observe_batch(size, seconds)
        admission.observe_batch(size, seconds)

    batcher: MicroBatcher | PredictionWorkers
    if workers > 0:
        threads = max(1, min(usable_cores() // workers, 8))  # the cores not taken by other workers prepare drawings
        batcher = PredictionWorkers(
            classifiers, workers, max_batch=max_batch, window_s=batch_window_ms / 1000, on_batch=observe_batch, threads=threads
        )
    else:
        # one thread per further core prepares drawings beside the batcher's: on one core, threads would only take turns at the GIL
        threads = min(usable_cores(), 8)
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prepare-drawings") if threads > 1 else None
        batcher = MicroBatcher(
            functools.partial(predict_drawings, classifiers, pool=pool),
            max_batch=max_batch,
            window_s=batch_window_ms / 1000,
            on_batch=observe_batch,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    # no /docs or /redoc: their pages load scripts from a CDN, and this page fetches nothing from the internet
    app = PageApp(title="practical-dl draw-a-digit page", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.batcher, app.state.metrics, app.state.limits, app.state.admission = batcher, metrics, limits, admission

    @app.exception_handler(Refusal)
    async def refused(request, exc: Refusal) -> JSONResponse:
        return JSONResponse(Problem(status=exc.status, reason=exc.reason).model_dump(), exc.status_code, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException) -> JSONResponse:  # e.g. 400 for a body that is not even text
        word = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return JSONResponse(Problem(status=word, reason=str(exc.detail)).model_dump(), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(Problem(status="invalid_request", reason=_validation_reason(exc)).model_dump(), 422)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    def static_file(text: str, media_type: str):
        def serve() -> Response:
            return Response(text, media_type=media_type, headers={"Cache-Control": "no-cache"})

        return serve

    for path, (text, media_type) in static.items():
        app.add_api_route(path, static_file(text, media_type), methods=["GET"], include_in_schema=False)

    @app.get("/api/models", response_model=ModelList, responses=problem_responses(401) if token else None)
    def models() -> ModelList:
        return ModelList(models=[ModelInfo(name=name, label=c.label, class_names=c.class_names) for name, c in classifiers.items()])

    @app.post("/api/predict", response_model=Prediction, responses=problem_responses(400, *([401] if token else []), 413, 422, 503, 504))
    async def predict(request: PredictRequest) -> Response:
        if not batcher.running:
            raise Refusal(
                503, "overloaded", "the server is not ready: its batcher is not running", {"Retry-After": str(limits.retry_after_s)}
            )
        result = await within_deadline(batcher.enqueue(request.image), limits.deadline_s)  # a future: no task of its own
        if isinstance(result, Refusal):
            raise result
        # made from the Prediction model (which validated its fields) in the batcher's thread; FastAPI would encode it again
        return Response(result, media_type="application/json")

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health, "description": "not ready yet (or any more)"}})
    def readyz():
        if batcher.running:
            return Health(status="ok", reason=f"{len(classifiers)} model(s) loaded, the batcher runs")
        return JSONResponse(Health(status="not_ready", reason="the batcher is not running").model_dump(), 503)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    # outermost last: the request id, log line and metrics see every answer
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    if token:
        app.add_middleware(BearerToken, token=token)
        app.authorised = BearerToken(None, token).authorised
    app.add_middleware(SecurityHeaders)
    recorder = RequestRecorder(metrics, ROUTES)
    app.add_middleware(RequestContext, recorder=recorder)
    # in front of all of them: admitted predictions are counted until answered, refusals recorded as the middleware would
    app.admission_gate = AdmissionControl(
        super(PageApp, app).__call__,
        admission,
        paths={"/api/predict"},
        retry_after_s=limits.retry_after_s,
        headers=[(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()],
        on_refusal=recorder.refusal_headers,
    )
    return app


def load_classifiers(models_dir: str | Path, models: Sequence[str]) -> tuple[dict[str, DigitClassifier], dict[str, str]]:
    """The newest trained version of each model, and why the others could not be loaded."""
    loaded: dict[str, DigitClassifier] = {}
    problems: dict[str, str] = {}
    for model in dict.fromkeys(models):  # each once, in the order given
        try:
            path = latest_classifier_file(models_dir, model)
            loaded[model] = load_classifier(path)
        except (FileNotFoundError, ValueError) as exc:
            problems[model] = str(exc)
            continue
        logger.info("%s (%s): %s", model, loaded[model].label, path)
    return loaded, problems


def parser() -> argparse.ArgumentParser:
    """The command line of ``practical-dl-demo``."""
    defaults = Limits()
    p = argparse.ArgumentParser(
        prog="practical-dl-demo",
        description=(
            "The draw-a-digit page: draw a digit and watch the trained classifiers' probabilities. "
            "Run it from the Kedro project root after `kedro run`."
        ),
    )
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), metavar="MODEL", help="models to show (default: %(default)s)")
    p.add_argument(
        "--models-dir",
        type=Path,
        default=DEFAULT_MODELS_DIR,
        help="where the trained models are (default: %(default)s, relative to the current folder)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument(
        "--token",
        default=os.environ.get("PRACTICAL_DL_DEMO_TOKEN") or None,
        help="API requests need 'Authorization: Bearer TOKEN' (the page: open /#token=TOKEN); default: $PRACTICAL_DL_DEMO_TOKEN",
    )
    p.add_argument("--open", action="store_true", help="allow a non-loopback --host without a token (anyone who reaches it may use it)")
    p.add_argument(
        "--max-body-bytes", type=int, default=defaults.max_body_bytes, help="larger request bodies get 413 unread (default: %(default)s)"
    )
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=defaults.max_concurrent,
        help="predictions in flight at once, at most; more get 503 (default: %(default)s)",
    )
    p.add_argument(
        "--wait-target-ms",
        type=float,
        default=1000 * defaults.wait_target_s,
        help="admit a prediction while the work ahead of it takes at most about this long; else 503 at once (default: %(default)s)",
    )
    p.add_argument(
        "--deadline", type=float, default=defaults.deadline_s, help="seconds a prediction may take; longer gets 504 (default: %(default)s)"
    )
    p.add_argument(
        "--refusals-per-answer",
        type=float,
        default=defaults.refusals_per_answer,
        help="refusals (503) sent at once per drawing answered; more wait their turn, up to Retry-After (default: %(default)s)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=min(usable_cores(), 8),
        help="worker processes that prepare and classify drawings; 0: a thread of the server (default: one per core, %(default)s)",
    )
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH, help="most drawings in one forward pass (default: %(default)s)")
    p.add_argument(
        "--batch-window-ms",
        type=float,
        default=DEFAULT_BATCH_WINDOW_MS,
        help="how long the first drawing of a batch waits for others (default: %(default)s)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    problem = exposure_problem(args.host, args.token, args.open)
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(2)
    try:
        limits = Limits(
            max_body_bytes=args.max_body_bytes,
            max_concurrent=args.max_concurrent,
            wait_target_s=args.wait_target_ms / 1000,
            refusals_per_answer=args.refusals_per_answer,
            deadline_s=args.deadline,
        )
        if args.max_batch < 1 or args.batch_window_ms < 0 or args.workers < 0:
            raise ValueError("--max-batch must be at least 1, and --batch-window-ms and --workers not negative")
    except ValueError as exc:
        print(f"practical-dl-demo: {exc}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: [%(request_id)s] %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())

    classifiers, problems = load_classifiers(args.models_dir, args.models)
    if not classifiers:
        details = "\n".join(f"  {model}: {problem}" for model, problem in problems.items())
        sys.exit(
            f"practical-dl-demo: no trained classifier to show for {', '.join(problems)}:\n{details}\n"
            "Train them first with `kedro run` (run from the Kedro project root, or pass --models-dir; "
            f"looked in {args.models_dir.resolve()})."
        )
    for model, problem in problems.items():
        logger.warning("not showing %s: %s", model, problem)

    import uvicorn  # only here: importing the module (for create_app) does not need it

    host = f"[{args.host}]" if ":" in args.host else args.host
    logger.info(
        "draw-a-digit page with %s on http://%s:%d/ (Ctrl+C to stop)", ", ".join(c.label for c in classifiers.values()), host, args.port
    )
    app = create_app(
        classifiers,
        limits,
        max_batch=args.max_batch,
        batch_window_ms=args.batch_window_ms,
        token=args.token,
        workers=args.workers,
    )
    # what is loaded by now (torch, the networks, FastAPI) lives as long as the server: keep it out of the garbage
    # collector's full passes, whose pauses over it were the slowest answers under load (docs/benchmarks.md)
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
