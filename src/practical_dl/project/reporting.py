"""What the reporting nodes write, in one form everywhere: a claim's verdict in words, and
metrics in the form of kedro-mlflow's ``MlflowMetricsHistoryDataset`` (``{key: {"step", "value"}}``
for one value, ``{key: [{"step", "value"}, ...]}`` for a history)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def verdict(ok: bool) -> str:
    """How a report says whether a run bears a claim out."""
    return "**confirmed**" if ok else "**not confirmed by this run**"


def metric_values(values: Mapping[str, float], step: int = 0) -> dict[str, dict[str, float]]:
    """One value per metric key, at ``step``."""
    return {key: {"step": step, "value": float(value)} for key, value in values.items()}


def metric_history(points: Iterable[tuple[int, float]]) -> list[dict[str, float]]:
    """One metric's values at several steps (epochs, 100 ε, ...)."""
    return [{"step": int(step), "value": float(value)} for step, value in points]
