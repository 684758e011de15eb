"""A shared MLflow tracking server to try on this machine (``make tracking-server``, or
``python -m practical_dl.tools.tracking_server``): PostgreSQL holds the runs, metric histories and
registered models, and ``mlflow server`` serves them (REST API and UI) and stores the artefacts
that clients upload to it (``--serve-artifacts``), both on 127.0.0.1.

``kedro run --env remote`` then tracks on it (``conf/remote/mlflow.yml``; the environment variable
``MLFLOW_TRACKING_URI`` points that environment at another server). Everything lives in one folder,
``data/tracking_server/`` by default (git-ignored): ``postgres/`` (the database cluster),
``artifacts/``, and the two servers' logs. Ctrl-C stops both; the next start reuses the folder.

This is for a person to try a shared server, not for running one for a team: the database trusts
every connection from this machine and the MLflow server has no login.

PostgreSQL's programs (``initdb``, ``postgres``, ``pg_isready``, ``createdb``) come from Debian's
package ``postgresql`` (``/usr/lib/postgresql/<version>/bin``), from ``PATH``, or from the folder
named by ``PG_BIN``; MLflow reaches the database through psycopg 3 (``pip install -e ".[server]"``).
PostgreSQL refuses to run as root: started by root, its programs run as the user ``postgres``.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 5050  # 5000: `make mlflow-ui`; 5001: `mlflow models serve` in docs/using-models.md
DEFAULT_FOLDER = Path("data") / "tracking_server"
DATABASE = "mlflow"
DB_USER = "mlflow"
PG_PROGRAMS = ("initdb", "postgres", "pg_isready", "createdb")
INSTALL_HINT = (
    "apt-get install postgresql (Debian, Ubuntu), brew install postgresql (macOS), "
    "or set PG_BIN to the folder that holds initdb and postgres"
)


class TrackingServerError(RuntimeError):
    """The tracking server could not be started; the message says what is missing or went wrong."""


def find_postgres_bin() -> Path:
    """The folder of PostgreSQL's server programs: ``PG_BIN``, Debian's newest
    ``/usr/lib/postgresql/<version>/bin``, or the folder of ``initdb`` on ``PATH``."""

    def complete(folder: Path) -> bool:
        return all((folder / name).is_file() and os.access(folder / name, os.X_OK) for name in PG_PROGRAMS)

    if os.environ.get("PG_BIN"):
        folder = Path(os.environ["PG_BIN"])
        if not complete(folder):
            raise TrackingServerError(f"PG_BIN={folder} does not hold PostgreSQL's {', '.join(PG_PROGRAMS)}")
        return folder
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)], reverse=True
    )
    on_path = [Path(found).resolve().parent for found in [shutil.which("initdb")] if found]
    for folder in (*debian, *on_path):
        if complete(folder):
            return folder
    raise TrackingServerError(f"PostgreSQL not found (its programs {', '.join(PG_PROGRAMS)}): {INSTALL_HINT}")


def check_driver() -> None:
    """MLflow's PostgreSQL store needs a driver: psycopg 3, named in the store's address
    (``postgresql+psycopg://``; SQLAlchemy's default for ``postgresql://`` differs between versions)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise TrackingServerError(
            'mlflow server needs the PostgreSQL driver psycopg: pip install -e ".[server]" (or pip install "psycopg[binary]")'
        ) from None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at the moment."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class _Account:
    """The user PostgreSQL's programs run as: this process's own, or ``postgres`` when it is root."""

    uid: int | None = None
    gid: int | None = None
    name: str = ""

    @classmethod
    def for_postgres(cls) -> _Account:
        if os.geteuid() != 0:
            return cls()
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise TrackingServerError(
                "PostgreSQL refuses to run as root, and there is no user 'postgres' to run it as: "
                "run as another user, or install Debian's postgresql (it creates that user)"
            ) from None
        return cls(user.pw_uid, user.pw_gid, "postgres")

    def popen_args(self) -> dict:
        return {} if self.uid is None else {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid)

    def check_reaches(self, path: Path) -> None:
        """Raise if the user cannot walk down to ``path`` (a root-only parent folder, say)."""
        if self.uid is None:
            return
        groups = {self.gid, *(g.gr_gid for g in _groups_of(self.name))}
        for folder in reversed(path.resolve().parents):
            st = folder.stat()
            if st.st_uid == self.uid:
                allowed = st.st_mode & 0o100
            elif st.st_gid in groups:
                allowed = st.st_mode & 0o010
            else:
                allowed = st.st_mode & 0o001
            if not allowed:
                raise TrackingServerError(
                    f"PostgreSQL runs as the user {self.name} (it refuses root), who cannot enter {folder}: "
                    f"choose a folder it can reach (--folder), or chmod o+x {folder}"
                )


def _groups_of(user: str) -> list:
    import grp

    return [g for g in grp.getgrall() if user in g.gr_mem]


@dataclass
class TrackingServer:
    """A running PostgreSQL and ``mlflow server``; :meth:`stop` (or leaving ``with``) ends both."""

    folder: Path
    uri: str
    backend_store_uri: str
    artifacts: Path
    logs: dict[str, Path]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __enter__(self) -> TrackingServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def dead(self) -> list[str]:
        """The servers that have stopped on their own."""
        return [name for name, process in self.processes.items() if process.poll() is not None]

    def stop(self) -> None:
        """MLflow first (it holds connections to the database), then PostgreSQL (fast shutdown)."""
        for name, sig, wait_s in (("mlflow", signal.SIGTERM, 20), ("postgres", signal.SIGINT, 60)):
            process = self.processes.pop(name, None)
            if process is not None:
                _stop(process, sig, wait_s)


def _stop(process: subprocess.Popen, sig: int, wait_s: float) -> None:
    """Send ``sig`` to the process group of ``process`` (started in a session of its own), then kill it."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=wait_s)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _run(command: Sequence[str], account: _Account, cwd: Path, what: str) -> subprocess.CompletedProcess:
    result = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, **account.popen_args())
    if result.returncode != 0:
        raise TrackingServerError(f"{what} failed ({' '.join(command)}):\n{(result.stdout + result.stderr)[-3000:]}")
    return result


def _wait_for(ready, process: subprocess.Popen, log: Path, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process.poll() is not None:
            raise TrackingServerError(f"{what} stopped at start (exit code {process.returncode}); its log, {log}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise TrackingServerError(f"{what} did not answer within {timeout_s:.0f} s; its log, {log}:\n{_tail(log)}")
        time.sleep(0.2)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start(
    folder: Path | str = DEFAULT_FOLDER,
    port: int = DEFAULT_PORT,
    pg_port: int | None = None,
    workers: int = 1,
    timeout_s: float = 120,
) -> TrackingServer:
    """Start PostgreSQL (a cluster in ``folder``/postgres, created on first use, on a free
    loopback port unless ``pg_port`` is given) and ``mlflow server`` on ``127.0.0.1:port``
    (0: a free port), its artefacts in ``folder``/artifacts. Returns once the MLflow server
    answers; raises :class:`TrackingServerError` naming what is missing or what failed."""
    host = "127.0.0.1"
    bin_dir = find_postgres_bin()
    check_driver()
    account = _Account.for_postgres()
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / ".gitignore").exists():
        (folder / ".gitignore").write_text("# practical_dl.tools.tracking_server: a database, artefacts and logs, never committed\n*\n")
    port = port or free_port(host)
    if _port_taken(host, port):
        raise TrackingServerError(f"port {port} on {host} is taken (another tracking server?): choose another with --port")
    pg_port = pg_port or free_port(host)
    cluster, artifacts = folder / "postgres", folder / "artifacts"
    logs = {"postgres": folder / "postgres.log", "mlflow": folder / "mlflow_server.log"}
    artifacts.mkdir(exist_ok=True)
    account.check_reaches(folder)

    if not (cluster / "PG_VERSION").is_file():
        cluster.mkdir(mode=0o700, exist_ok=True)
        account.own(cluster)
        # trust: only this machine can connect (listen_addresses below), and only for a try-out
        _run(
            [str(bin_dir / "initdb"), "-D", str(cluster), "-U", DB_USER, "--auth=trust", "--encoding=UTF8", "--no-locale"],
            account,
            cluster,
            "initdb (creating the database cluster)",
        )
    server = TrackingServer(
        folder=folder,
        uri=f"http://{host}:{port}",
        backend_store_uri=f"postgresql+psycopg://{DB_USER}@{host}:{pg_port}/{DATABASE}",
        artifacts=artifacts,
        logs=logs,
    )
    try:
        with logs["postgres"].open("ab") as log:
            server.processes["postgres"] = subprocess.Popen(
                # TCP on loopback only; no Unix socket (its folder may be long, or another user's)
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(cluster),
                    "-p",
                    str(pg_port),
                    "-c",
                    f"listen_addresses={host}",
                    "-c",
                    "unix_socket_directories=",
                ],
                cwd=cluster,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **account.popen_args(),
            )
        pg_isready = [str(bin_dir / "pg_isready"), "-q", "-h", host, "-p", str(pg_port), "-U", DB_USER, "-d", "postgres"]
        _wait_for(
            lambda: subprocess.run(pg_isready).returncode == 0, server.processes["postgres"], logs["postgres"], "PostgreSQL", timeout_s
        )
        created = subprocess.run(
            [str(bin_dir / "createdb"), "-h", host, "-p", str(pg_port), "-U", DB_USER, DATABASE], capture_output=True, text=True
        )
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise TrackingServerError(f"createdb {DATABASE} failed:\n{created.stderr[-2000:]}")

        with logs["mlflow"].open("ab") as log:
            server.processes["mlflow"] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--backend-store-uri",
                    server.backend_store_uri,
                    "--serve-artifacts",
                    "--artifacts-destination",
                    artifacts.as_uri(),
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_for(lambda: _http_ok(f"{server.uri}/health"), server.processes["mlflow"], logs["mlflow"], "mlflow server", timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m practical_dl.tools.tracking_server", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--folder", type=Path, default=None, help=f"where the database, artefacts and logs live (default: the project's {DEFAULT_FOLDER})"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the MLflow server's port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--workers", type=int, default=2, help="the MLflow server's worker processes (default 2)")
    args = parser.parse_args(argv)
    folder = args.folder
    if folder is None:
        from kedro.utils import find_kedro_project

        folder = (find_kedro_project(Path.cwd()) or Path.cwd()) / DEFAULT_FOLDER

    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, `kill` (SIGINT even where a shell ignores it in the background)
        signal.signal(sig, _interrupt)
    try:
        server = start(folder, port=args.port, workers=args.workers)
    except TrackingServerError as exc:
        print(f"tracking server: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    env_hint = "" if args.port == DEFAULT_PORT else f"MLFLOW_TRACKING_URI={server.uri} "
    print(
        f"MLflow tracking server: {server.uri} (the UI and the REST API)\n"
        f"  runs, metric histories, registered models: PostgreSQL, {server.backend_store_uri}\n"
        f"  artefacts: {server.artifacts}\n"
        f"  logs: {server.logs['mlflow']}, {server.logs['postgres']}\n"
        f"Track on it from any clone on this machine: {env_hint}kedro run --env remote\n"
        "Ctrl-C stops both servers (the folder is kept for the next start).",
        flush=True,
    )
    try:
        with server:
            while not server.dead():
                time.sleep(0.5)
            name = server.dead()[0]
            print(f"tracking server: {name} stopped on its own; its log, {server.logs[name]}:\n{_tail(server.logs[name])}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("\nstopping the MLflow server and PostgreSQL ...", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
