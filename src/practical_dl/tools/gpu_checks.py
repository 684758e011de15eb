"""The checks to run when a GPU machine is lent, in one go: ``python -m practical_dl.tools.gpu_checks [--out gpu_results]``.

From the project folder, with the project importable (``pip install -e .``, or ``PYTHONPATH=src``),
after nothing else has run (it trains what it needs). The steps, in order:

1. ``cuda_tests``: ``python -m pytest -m cuda -p no:cacheprovider -q``, the tests marked ``cuda``
   (the engine, the DCGAN and the predict path on the GPU, the training pipeline on it and under
   ``torchrun`` with NCCL on every visible GPU); first: they tell soonest whether the GPU path works, and
   they train in folders of their own, leaving the project's data to the steps after them;
2. ``benchmark``: ``python -m practical_dl.tools.benchmark --device cuda`` (throughput, time to
   99.2%, deterministic kernels on and off);
3. ``default_run``: ``kedro run --env gpu`` (the lecture's table with the GPU recipes);
4. ``gan``: ``kedro run --env gpu --pipelines gan``;
5. ``ddp_one_gpu``: the training pipeline under ``torchrun`` with one rank (the NCCL path,
   docs/scale-out.md); last, as it saves a 2-epoch SimpLeNet that ``gan`` would otherwise score with.

Each step has its own time limit and log (``<out>/<step>.log``); a step that fails or runs out of
time does not stop the rest. After each step the lines worth reading are printed, and the run's
tables (``results.md``, the DCGAN's scores and history) are copied into ``<out>``. ``--dry-run``
prints the commands without running anything. The numbers go, dated, into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: the steps in the order they run
STEP_NAMES = ("cuda_tests", "benchmark", "default_run", "gan", "ddp_one_gpu")
DEFAULT_LIMITS = {"cuda_tests": 240, "benchmark": 130, "default_run": 200, "gan": 150, "ddp_one_gpu": 120}
#: the environment every step runs in, on top of the caller's
STEP_ENV = {"COLUMNS": "200", "PYTHONUNBUFFERED": "1", "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "MPLBACKEND": "Agg"}
#: a log line worth printing after its step
WORTH_READING = re.compile(
    r"Error|error:|Traceback|successfully|images/s|engine|deterministic|Time to|Augmenting|Device:|test error|FID|Inception"
    r"|^(FAILED|ERROR|SKIPPED) |[0-9]+ (passed|failed)"  # pytest's summary (cuda_tests)
)
NOISE = re.compile(r"^ *File |epoch [0-9]+/[0-9]+")
TIMED_OUT = 124  # the exit status of coreutils' `timeout`, for the same event
DDP_PARAMS = "trained_models=[simplenet],simplenet.training.epochs=2,training_defaults.checkpoint_every=0"
#: the tests marked ``cuda`` (pyproject.toml), quietly, leaving no cache in the project
CUDA_TESTS = ("-m", "pytest", "-m", "cuda", "-p", "no:cacheprovider", "-q")


@dataclass(frozen=True)
class Step:
    """One command with its time limit, and the files it writes that are copied into the output folder."""

    name: str
    limit_s: float
    command: tuple[str, ...]
    copies: tuple[tuple[str, str], ...] = field(default=())  # (path in the project, file name in <out>)


def build_steps(
    python: str = sys.executable,
    env_name: str = "gpu",
    benchmark_args: Sequence[str] = ("--device", "cuda"),
    limits: dict[str, float] | None = None,
) -> list[Step]:
    """The five steps, in order, as commands of ``python``; nothing is run."""
    limits = {**DEFAULT_LIMITS, **(limits or {})}
    kedro = (python, "-m", "kedro", "run", "--env", env_name)
    return [
        Step("cuda_tests", limits["cuda_tests"], (python, *CUDA_TESTS)),
        Step("benchmark", limits["benchmark"], (python, "-m", "practical_dl.tools.benchmark", *benchmark_args)),
        Step("default_run", limits["default_run"], kedro, copies=(("data/08_reporting/results.md", "results.md"),)),
        Step(
            "gan",
            limits["gan"],
            (*kedro, "--pipelines", "gan"),
            copies=(
                ("data/08_reporting/gan/scores.json", "gan_scores.json"),
                ("data/07_model_output/gan/training_history.csv", "gan_history.csv"),
            ),
        ),
        Step(
            "ddp_one_gpu",
            limits["ddp_one_gpu"],
            (python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "kedro", "run")
            + ("--env", env_name, "--pipelines", "training", "--params", DDP_PARAMS),
            copies=(("data/07_model_output/simplenet/training_history.csv", "ddp_one_gpu_history.csv"),),
        ),
    ]


def worth_reading(log: str, last: int = 25) -> list[str]:
    """The last ``last`` lines of a step's log that say how it went (errors, timings, scores)."""
    lines = [line for line in log.splitlines() if WORTH_READING.search(line) and not NOISE.search(line)]
    return lines[-last:]


def run_step(step: Step, out: Path, cwd: Path = Path(".")) -> int:
    """Run one step with its log in ``out/<name>.log``; return its exit status (124: out of time)."""
    print(f"=== {step.name}: {shlex.join(step.command)} (limit {step.limit_s:g} s)", flush=True)
    log_path = out / f"{step.name}.log"
    start = time.monotonic()
    with log_path.open("w") as log:
        # a session of its own, so that running out of time stops kedro's and torchrun's children too
        process = subprocess.Popen(
            step.command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **STEP_ENV}, start_new_session=True
        )
        try:
            status = process.wait(timeout=step.limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            status = TIMED_OUT
    print(f"=== {step.name}: exit {status} after {time.monotonic() - start:.0f} s")
    for line in worth_reading(log_path.read_text(errors="replace")):
        print(line)
    for source, name in step.copies:
        if (cwd / source).is_file():
            shutil.copyfile(cwd / source, out / name)
            if name.endswith((".md", ".json")) or step.name == "ddp_one_gpu":
                print((out / name).read_text().rstrip("\n"))
    return status


def describe_machine(python: str = sys.executable) -> None:
    """Print the GPU (nvidia-smi) and the versions of torch, Kedro and MLflow."""
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
        subprocess.run(query, check=False)
    versions = (
        "import torch, kedro, mlflow; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),"
        " 'kedro', kedro.__version__, 'mlflow', mlflow.__version__)"
    )
    subprocess.run([python, "-c", versions], check=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m practical_dl.tools.gpu_checks",
        description=(
            "The GPU checks: the cuda tests, benchmark, kedro run --env gpu, the DCGAN, torchrun with one rank;"
            " each with a time limit and log."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("gpu_results"), help="folder for the logs and copied tables (default gpu_results)")
    parser.add_argument("--env", default="gpu", help="the Kedro environment of the runs (default gpu)")
    parser.add_argument(
        "--benchmark-args", default="--device cuda", help="arguments of the benchmark, one string (default '--device cuda')"
    )
    parser.add_argument(
        "--steps", nargs="+", choices=STEP_NAMES, default=list(STEP_NAMES), help="run only these steps (in the usual order)"
    )
    for name in STEP_NAMES:
        flag = f"--{name.replace('_', '-')}-limit"
        parser.add_argument(flag, type=float, default=DEFAULT_LIMITS[name], help=f"seconds for {name} (default {DEFAULT_LIMITS[name]})")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)

    limits = {name: getattr(args, f"{name}_limit") for name in STEP_NAMES}
    steps = [
        s for s in build_steps(env_name=args.env, benchmark_args=shlex.split(args.benchmark_args), limits=limits) if s.name in args.steps
    ]
    if args.dry_run:
        for step in steps:
            print(f"{step.name} (limit {step.limit_s:g} s): {shlex.join(step.command)}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    describe_machine()
    statuses = {step.name: run_step(step, args.out) for step in steps}
    print("=== " + ", ".join(f"{name}: exit {status}" for name, status in statuses.items()))
    return 0 if all(status == 0 for status in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
