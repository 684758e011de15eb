"""Project hooks: check parameters and inputs before a run starts, so that a bad value or a
missing upstream artefact stops the run before any output is written."""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)


class MissingInputError(RuntimeError):
    """An input of the pipeline has not been produced yet."""


def check_pipeline_parameters(pipeline: Pipeline, parameters: dict[str, Any]) -> None:
    """Validate every parameter block that ``pipeline`` reads; raise ``ValueError`` naming it."""
    from practical_dl.augment import AugmentConfig
    from practical_dl.pipelines.adversarial.nodes import check_adversarial_parameters
    from practical_dl.pipelines.batch_lr.nodes import check_batch_lr_parameters
    from practical_dl.pipelines.data_ingestion.nodes import check_ingestion_parameters
    from practical_dl.pipelines.depth_bn.nodes import check_depth_bn_parameters
    from practical_dl.pipelines.dropout_ensemble.nodes import check_dropout_ensemble_parameters
    from practical_dl.pipelines.gan.nodes import check_gan_parameters
    from practical_dl.pipelines.patch.nodes import check_patch_parameters
    from practical_dl.pipelines.predict.nodes import check_predict_parameters
    from practical_dl.pipelines.transfer_learning.nodes import check_transfer_parameters
    from practical_dl.pipelines.tricks.sweeps import check_tricks_parameters
    from practical_dl.training_setup import augmentation_config, model_from_params, training_config

    wanted = {name.removeprefix("params:") for name in pipeline.inputs() | pipeline.all_inputs() if name.startswith("params:")}
    if "data_ingestion" in wanted:
        check_ingestion_parameters(parameters.get("data_ingestion") or {})
    if "augmentation" in wanted:
        AugmentConfig.from_dict(parameters.get("augmentation"))
    if "adversarial" in wanted:
        check_adversarial_parameters(parameters.get("adversarial") or {})
    if "gan" in wanted:
        check_gan_parameters(parameters.get("gan") or {})
    if "patch" in wanted:
        check_patch_parameters(parameters.get("patch") or {})
    if "batch_lr" in wanted:
        check_batch_lr_parameters(parameters.get("batch_lr") or {}, parameters.get("training_defaults") or {})
    if "depth_bn" in wanted:
        check_depth_bn_parameters(parameters.get("depth_bn") or {}, parameters.get("training_defaults") or {})
    if "dropout_ensemble" in wanted:
        check_dropout_ensemble_parameters(parameters.get("dropout_ensemble") or {}, parameters.get("training_defaults") or {})
    if "tricks" in wanted:
        check_tricks_parameters(parameters.get("tricks") or {}, parameters.get("training_defaults") or {})
    if "predict" in wanted:
        check_predict_parameters(parameters.get("predict") or {}, list(parameters.get("trained_models") or []))
    if "transfer_learning" in wanted:
        check_transfer_parameters(parameters.get("transfer_learning") or {})
    if "rotation_regression" in wanted:
        training_config(
            parameters.get("training_defaults"),
            (parameters.get("rotation_regression") or {}).get("training"),
            "rotation_regression.training",
        )
    for name in sorted(wanted):
        namespace, _, block = name.rpartition(".")
        if not namespace:
            continue
        scope = parameters.get(namespace) or {}
        if block == "model":
            model_from_params(scope.get("model"), f"{namespace}.model")
        elif block == "training":
            config = training_config(parameters.get("training_defaults"), scope.get("training"), where=f"{namespace}.training")
            augmentation_config(config, parameters.get("augmentation"), where=f"{namespace}.training")


def producing_pipelines(dataset: str) -> list[str]:
    """Names of the project's pipelines that output ``dataset``.

    Builds every pipeline package of ``practical_dl.pipelines`` itself: ``kedro run --pipelines X``
    makes Kedro load only ``X``.
    """
    import importlib
    import pkgutil

    import practical_dl.pipelines as package

    names = []
    for module in pkgutil.iter_modules(package.__path__):
        pipeline = importlib.import_module(f"{package.__name__}.{module.name}").create_pipeline()
        if dataset in pipeline.all_outputs():
            names.append(module.name)
    return sorted(names)


def _where(catalog, name: str) -> str:
    """Where the catalog expects a raw input, for the message that says it is missing."""
    try:
        described = catalog.get(name)._describe()
    except Exception:  # an entry that cannot even be built: the catalog is the place to look
        return "check conf/base/catalog.yml"
    location = described.get("path") or described.get("filepath")
    return f"put it at {location} (conf/base/catalog.yml)" if location else "check conf/base/catalog.yml"


class DistributedRunHook:
    """Under ``torchrun`` every process runs the whole ``kedro run``; only rank 0 writes. On the
    other ranks this hook keeps every dataset the run produces in memory (no file, no MLflow
    artefact is written twice), and their log to warnings. (``settings.py`` leaves kedro-mlflow's
    hook out on those ranks: one MLflow run per ``kedro run``.) See :mod:`practical_dl.distributed`."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        from kedro.io import MemoryDataset

        from practical_dl import distributed

        if distributed.is_main_process():
            return
        for name in ("practical_dl", "kedro"):
            logging.getLogger(name).setLevel(logging.WARNING)
        catalog_logger = logging.getLogger("kedro.io.data_catalog")  # it warns of every dataset replaced
        level = catalog_logger.level
        catalog_logger.setLevel(logging.ERROR)
        try:
            for name in sorted(pipeline.all_outputs()):
                catalog[name] = MemoryDataset(copy_mode="assign")
        finally:
            catalog_logger.setLevel(level)


class ValidateParametersHook:
    """Fail fast, naming the parameter, before any node has run."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run that a failed check would leave open
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        check_pipeline_parameters(pipeline, catalog.load("parameters"))


class CheckInputsHook:
    """A pipeline run before its upstream fails at once with the pipeline to run first."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run that a failed check would leave open
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        missing = []
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters":
                continue
            if not catalog.exists(name):
                missing.append(name)
        if not missing:
            return
        lines = []
        for name in missing:
            upstream = producing_pipelines(name)
            hint = " or ".join(f"`kedro run --pipelines {p}`" for p in upstream) if upstream else "no registered pipeline makes it"
            lines.append(f"  - {name}: run {hint} first" if upstream else f"  - {name}: {hint}; {_where(catalog, name)}")
        raise MissingInputError("This run needs inputs that do not exist yet:\n" + "\n".join(lines))


class RunInfoHook:
    """Records the Kedro run (session id, environment, pipelines) for what a run logs to MLflow, and
    makes the run easy to find in the MLflow UI: named after what ran and when, its experiment tagged
    as model development, the experiment's saved view of each model's test error brought up to date
    at the end (:mod:`practical_dl.tracking`), and the UI's address of that view logged."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.ui_address = "http://127.0.0.1:5000"

    @hook_impl(trylast=True)  # after kedro-mlflow has read mlflow.yml (context.mlflow)
    def after_context_created(self, context) -> None:
        from practical_dl import tracking

        config = getattr(context, "mlflow", None)
        if config is not None:
            self.ui_address = tracking.ui_address(config)

    @hook_impl(trylast=True)  # after kedro-mlflow's own before_pipeline_run has started the MLflow run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        from practical_dl import tracking

        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        tracking.kedro_run.clear()
        tracking.kedro_run.update(
            session_id=str(run_params.get("session_id") or run_params.get("run_id") or ""),
            env=str(run_params.get("env") or "local"),
            pipelines=",".join(names),
        )
        self.run_id = None
        try:
            self.run_id = tracking.name_kedro_run(names, run_params.get("runtime_params"))
        except Exception as exc:  # a name is not worth failing a training run for
            logger.warning("could not name the MLflow run: %s", exc)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline: Pipeline, catalog) -> None:
        from practical_dl import tracking

        if self.run_id is None:
            return
        try:
            experiment_id = tracking.update_comparison_view(self.run_id)
        except Exception as exc:  # the run itself is done and recorded; only the view is missing
            logger.warning("could not update the MLflow UI's view of the test errors: %s", exc)
            return
        logger.info("MLflow UI (`make mlflow-ui`): %s", tracking.comparison_view_url(self.ui_address, experiment_id))


class InterruptHook:
    """Ctrl-C (SIGINT) or SIGTERM during a run: the MLflow run ends as KILLED, tagged with the
    signal, instead of FINISHED (what MLflow's own exit handler would record) or RUNNING for ever.

    SIGTERM (what ``kill``, a container runtime or a pre-empted cloud machine sends) is turned into
    the same ``KeyboardInterrupt`` as Ctrl-C, so the run unwinds instead of vanishing. MLflow
    registers its exit handler when it is imported; this one is registered later and so runs
    first (handlers run last in, first out).
    """

    def __init__(self) -> None:
        self.interrupted_by: str | None = None
        self._registered = False
        self._previous: dict[int, Any] = {}

    def _on_signal(self, signum: int, frame) -> None:
        self.interrupted_by = signal.Signals(signum).name
        raise KeyboardInterrupt(f"interrupted by {self.interrupted_by}")

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        self.interrupted_by = None
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._on_signal)
        if not self._registered:
            atexit.register(self.end_interrupted_runs)
            self._registered = True

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline: Pipeline, catalog) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Pipeline, catalog) -> None:
        self._restore()

    def _restore(self) -> None:
        while self._previous:
            sig, handler = self._previous.popitem()
            signal.signal(sig, handler)

    def end_interrupted_runs(self) -> None:
        """At exit after an interrupt: end every active MLflow run (children first) as KILLED."""
        import mlflow

        if self.interrupted_by is None:
            return
        while mlflow.active_run() is not None:
            try:
                mlflow.set_tag("interrupted_by", self.interrupted_by)
                mlflow.end_run(status="KILLED")
            except Exception as exc:  # the store itself is gone: nothing more can be recorded
                logger.warning("could not end the MLflow run as KILLED: %s", exc)
                break


def configured_tracking_uri(context) -> str:
    """``server.mlflow_tracking_uri`` of the run's ``mlflow.yml`` ("" without one), read before
    kedro-mlflow sets the store up."""
    loader = context.config_loader
    # kedro-mlflow adds this pattern in its own after_context_created, which runs after ours
    loader.config_patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**", "**/mlflow*"])
    try:
        return str(((loader["mlflow"] or {}).get("server") or {}).get("mlflow_tracking_uri") or "")
    except Exception:  # no mlflow.yml: kedro-mlflow's defaults, nothing of ours to check
        return ""


def check_tracking_server(uri: str, timeout_s: float = 10.0) -> None:
    """Raise ``ConnectionError`` naming ``uri`` when an http(s) tracking server does not answer
    (MLflow itself retries a dead address for minutes before a run fails). Any HTTP answer, even
    an error status such as a login's 401, counts as answering."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(
            f"the MLflow tracking server {uri} (server.mlflow_tracking_uri of mlflow.yml, or MLFLOW_TRACKING_URI for "
            f"--env remote) does not answer: {reason}. Start one with `make tracking-server`, or run without --env remote"
        ) from None


class CheckTrackingServerHook:
    """Before kedro-mlflow sets up a tracking server's experiment: fail at once, naming the
    address, when nothing answers there."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        check_tracking_server(configured_tracking_uri(context))


class _StoreLock:
    """An exclusive lock file beside a SQLite MLflow store, held while kedro-mlflow sets it up."""

    def __init__(self) -> None:
        self.handle = None

    def acquire(self, context) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; the race below stays possible there
            return
        from practical_dl.distributed import is_main_process

        if not is_main_process():  # under torchrun only rank 0 tracks (settings.py)
            return
        uri = configured_tracking_uri(context)
        if not uri.startswith("sqlite:///"):
            return
        store = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
        store.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(store.with_name(store.name + ".lock"), "w")  # noqa: SIM115 (held across two hooks)
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the file releases the lock
            self.handle = None


_store_lock = _StoreLock()


class LockMlflowStoreHook:
    """Two ``kedro run`` started together on a project without ``mlflow.db``: both would create
    its tables (MLflow's schema migration then fails in one of them) and both would create the
    experiment (one fails: it exists). This hook takes an exclusive lock beside the SQLite store
    before kedro-mlflow sets it up; :class:`UnlockMlflowStoreHook` gives it back afterwards."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        _store_lock.acquire(context)


class UnlockMlflowStoreHook:
    """Gives back the lock of :class:`LockMlflowStoreHook` once kedro-mlflow has set up the store."""

    @hook_impl(trylast=True)
    def after_context_created(self, context) -> None:
        _store_lock.release()
