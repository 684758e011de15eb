"""``python -m practical_dl.tools.command_times [--rounds 5] [CHECKOUT ...]``: how long the ``kedro``
commands of issue 40's bars take beside ``kedro --help``.

Each checkout (default: this one) is a clone with its own ``.venv``; the commands run alternately
in every checkout, round after round (the first round warms the file cache and is not counted),
so that two commits compare on the same machine at the same time. Prints each command's median
wall time, its ratio to ``kedro --help``, and ``predict``'s time beyond its own pipeline (the
``predict`` pipeline needs the default models trained: ``make run``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

COMMANDS = {
    "kedro --help": ["--help"],
    "kedro registry list": ["registry", "list"],
    "a bad parameter named": ["run", "--params", "batch_lr.training.lr=-1", "--pipelines", "batch_lr"],
    "kedro run --pipelines predict": ["run", "--pipelines", "predict"],
}
PIPELINE_TIME = re.compile(r"completed successfully in ([0-9.]+) sec")


def timed(checkout: Path, args: list[str]) -> tuple[float, str]:
    """Wall seconds of ``kedro ARGS`` in ``checkout`` (its own venv), and what it printed."""
    env = {**os.environ, "PATH": f"{checkout / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "200"}
    start = time.monotonic()
    done = subprocess.run([str(checkout / ".venv" / "bin" / "kedro"), *args], cwd=checkout, env=env, capture_output=True, text=True)
    return time.monotonic() - start, done.stdout + done.stderr


def measure(checkouts: list[Path], rounds: int) -> dict[Path, dict[str, list[float]]]:
    """Every command in every checkout, alternated, ``rounds`` times after a warm-up round."""
    times: dict[Path, dict[str, list[float]]] = {c: {name: [] for name in [*COMMANDS, "predict's pipeline"]} for c in checkouts}
    for round_ in range(rounds + 1):
        for checkout in checkouts:
            for name, args in COMMANDS.items():
                seconds, output = timed(checkout, args)
                if name == "a bad parameter named" and "invalid parameter batch_lr.training.lr" not in output:
                    raise SystemExit(f"{checkout}: the bad parameter was not named:\n{output[-1000:]}")
                if round_:
                    times[checkout][name].append(seconds)
                    if "predict" in name:
                        found = PIPELINE_TIME.search(output)
                        if found is None:
                            raise SystemExit(f"{checkout}: predict did not finish:\n{output[-1000:]}")
                        times[checkout]["predict's pipeline"].append(float(found.group(1)))
    return times


def report(times: dict[Path, dict[str, list[float]]], rounds: int) -> str:
    """A markdown table per checkout: medians, ratios to ``kedro --help``, and predict beyond its pipeline."""
    lines = []
    for checkout, by_command in times.items():
        median = {name: statistics.median(values) for name, values in by_command.items()}
        help_ = median["kedro --help"]
        beyond = median["kedro run --pipelines predict"] - median["predict's pipeline"]
        lines += [f"\n{checkout} (medians of {rounds} rounds)\n", "| command | s | x `kedro --help` |", "|---|---:|---:|"]
        lines += [f"| {name} | {value:.2f} | {value / help_:.2f} |" for name, value in median.items()]
        lines.append(f"| predict beyond its pipeline | {beyond:.2f} | {beyond / help_:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[Path.cwd()], help="clones with their own .venv (default: here)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds counted after the warm-up round")
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkouts]
    print(report(measure(checkouts, args.rounds), args.rounds))


if __name__ == "__main__":
    main()
