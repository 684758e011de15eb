"""The MLflow store a run tracks to: a server that answers, a SQLite file set up by one run at a time."""

from __future__ import annotations

from pathlib import Path

from kedro.framework.hooks import hook_impl


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


class TrackingServerUnreachable(ConnectionError):
    """The configured MLflow tracking server does not answer."""


def check_tracking_server(uri: str, timeout_s: float = 10.0) -> None:
    """Raise :class:`TrackingServerUnreachable` naming ``uri`` when an http(s) tracking server does not answer
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
        raise TrackingServerUnreachable(
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
        from practical_dl.core.distributed import is_main_process

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
