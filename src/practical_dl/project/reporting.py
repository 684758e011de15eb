"""What the reporting nodes hand on, in one form everywhere: typed claims with their verdicts, one
renderer that turns a report into markdown, and metrics in the form of kedro-mlflow's
``MlflowMetricsHistoryDataset`` (``{key: {"step", "value"}}`` for one value, ``{key: [{"step",
"value"}, ...]}`` for a history).

A node computes a :class:`Report` (its claims, its tables); :func:`render_report` alone writes
prose::

    claims = [Claim.check("Dropout narrows the gap", gap_on < gap_off, f"{gap_off:.3f} without, {gap_on:.3f} with")]
    markdown = render_report(Report("Tricks", claims=claims, tables={"Every member": table}))
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


class Verdict(str, Enum):
    """What a run says of a claim."""

    HOLDS = "holds"
    """The numbers bear the claim out."""
    NOT_SHOWN = "not shown"
    """The margin is within the noise: these numbers neither bear it out nor contradict it."""
    CONTRADICTED = "contradicted"
    """The numbers go against the claim."""


@dataclass(frozen=True)
class Claim:
    """One of the lecture's claims, what this run says of it, and the numbers that say so.

    ``statement`` is the claim in the lecture's words; ``evidence`` the numbers behind the verdict
    (one phrase, no verdict in it); ``margin`` and ``spread``, where the verdict was computed from
    them (:meth:`from_margin`), the number behind it and the noise it was compared with.
    """

    statement: str
    verdict: Verdict
    evidence: str = ""
    margin: float | None = None
    spread: float | None = None

    def __post_init__(self) -> None:
        if not self.statement.strip():
            raise ValueError("a claim needs a statement")
        if not isinstance(self.verdict, Verdict):
            raise TypeError(f"verdict must be a Verdict, got {self.verdict!r}")

    @classmethod
    def check(cls, statement: str, holds: bool, evidence: str = "") -> Claim:
        """A claim checked by a yes/no test of the numbers: it holds or it is contradicted."""
        return cls(statement, Verdict.HOLDS if holds else Verdict.CONTRADICTED, evidence)

    @classmethod
    def from_margin(cls, statement: str, margin: float, spread: float, evidence: str = "") -> Claim:
        """A claim whose ``margin`` (positive: in the claim's favour) is weighed against the noise
        ``spread`` (e.g. the seed-to-seed standard deviation, ≥ 0): it holds when the margin exceeds
        the spread, is contradicted when it falls below minus the spread, and is not shown between.
        A margin that is not a finite number shows nothing."""
        if not spread >= 0:
            raise ValueError(f"spread must be a number >= 0, got {spread!r}")
        if not math.isfinite(margin):
            verdict = Verdict.NOT_SHOWN
        elif margin > spread:
            verdict = Verdict.HOLDS
        elif margin < -spread:
            verdict = Verdict.CONTRADICTED
        else:
            verdict = Verdict.NOT_SHOWN
        return cls(statement, verdict, evidence, margin, spread)

    def line(self) -> str:
        """The claim as one line of markdown: ``- statement: **verdict** — evidence.``"""
        evidence = f" — {self.evidence.rstrip('.')}" if self.evidence else ""
        return f"- {self.statement}: **{self.verdict.value}**{evidence}."


@dataclass(frozen=True)
class Report:
    """What one pipeline found: a title, a paragraph on how it was measured, its claims and its tables.

    ``tables`` maps a heading to a table (or to ready markdown, e.g. a pivot with its index);
    ``claims_heading`` names the claims' section.
    """

    title: str
    about: str = ""
    claims: Sequence[Claim] = ()
    tables: Mapping[str, pd.DataFrame | str] = field(default_factory=dict)
    claims_heading: str = "The lecture's claims"
    tables_first: bool = False


def _table(value: pd.DataFrame | str) -> str:
    return value if isinstance(value, str) else value.to_markdown(index=False)


def render_report(report: Report, *, log: bool = True) -> str:
    """The one way a report becomes markdown, each claim logged once as it is rendered.

    Title, how it was measured, the claims with their verdicts, then the tables (``tables_first``:
    the tables before the claims).
    """
    claims = [f"## {report.claims_heading}", "", *(claim.line() for claim in report.claims), ""] if report.claims else []
    tables = [part for heading, table in report.tables.items() for part in (f"## {heading}", "", _table(table), "")]
    parts = [f"# {report.title}", "", *([report.about, ""] if report.about else [])]
    parts += [*tables, *claims] if report.tables_first else [*claims, *tables]
    if log:
        for claim in report.claims:
            logger.info("%s", claim.line().removeprefix("- ").replace("**", ""))
    return "\n".join(parts).rstrip("\n") + "\n"


@dataclass(frozen=True)
class PartFindings:
    """One part of the lecture as its page shows it: its title, the command that runs it alone, its
    report (None: a part with no claim of its own, ``note`` says why), its time and its figure (PNG bytes)."""

    name: str
    title: str
    command: str
    report: Report | None = None
    seconds: float | None = None
    figure: bytes | None = None
    note: str = ""

    @property
    def claims(self) -> Sequence[Claim]:
        return self.report.claims if self.report is not None else ()


def verdict_counts(claims: Iterable[Claim]) -> dict[Verdict, int]:
    """How many claims got each verdict, every verdict present (0 where none)."""
    counts = dict.fromkeys(Verdict, 0)
    for claim in claims:
        counts[claim.verdict] += 1
    return counts


def duration(seconds: float | None) -> str:
    """``42 s``, ``5 min 29 s``, ``1 h 02 min``; ``—`` where unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def lecture_summary(parts: Sequence[PartFindings]) -> str:
    """One sentence: how many claims, how they came out, in how many parts and how long it all took."""
    counts = verdict_counts(claim for part in parts for claim in part.claims)
    total = sum(counts.values())
    known = [part.seconds for part in parts if part.seconds is not None]
    time = f"{duration(sum(known))} of pipeline time" + ("" if len(known) == len(parts) else " (parts without a recorded time left out)")
    verdicts = ", ".join(f"{n} {verdict.value}" for verdict, n in counts.items())
    return f"{total} claims in {len(parts)} parts: {verdicts}; {time}."


def render_lecture(parts: Sequence[PartFindings]) -> str:
    """The lecture's page in markdown: a table of the parts, then each part's claims as its report states them."""
    rows = ["| part | command | holds | not shown | contradicted | time |", "|:--|:--|--:|--:|--:|--:|"]
    for part in parts:
        counts = verdict_counts(part.claims)
        rows.append(
            f"| {part.title} | `{part.command}` | " + " | ".join(str(n) for n in counts.values()) + f" | {duration(part.seconds)} |"
        )
    lines = ["# Practical Deep Learning: what the lecture's claims came to", "", lecture_summary(parts), "", *rows, ""]
    for number, part in enumerate(parts, 1):
        lines += [f"## {number}. {part.title} ({duration(part.seconds)})", "", f"`{part.command}`" + _report_title(part), ""]
        body = [claim.line() for claim in part.claims] or [part.note or "No claim of its own."]
        lines += [*body, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _report_title(part: PartFindings) -> str:
    return f" — {part.report.title}" if part.report is not None else ""


def report_to_dict(report: Report) -> dict[str, Any]:
    """A report as plain JSON data, tables as their markdown: :func:`report_from_dict` reads it back, and
    :func:`render_report` renders what it reads back exactly as it renders ``report``."""
    return {
        "title": report.title,
        "about": report.about,
        "claims_heading": report.claims_heading,
        "tables_first": report.tables_first,
        "claims": [
            {
                "statement": claim.statement,
                "verdict": claim.verdict.value,
                "evidence": claim.evidence,
                "margin": _finite_or_none(claim.margin),
                "spread": _finite_or_none(claim.spread),
            }
            for claim in report.claims
        ],
        "tables": {heading: _table(table) for heading, table in report.tables.items()},
    }


def report_from_dict(data: Mapping[str, Any]) -> Report:
    """The :class:`Report` that :func:`report_to_dict` wrote: claims typed, tables as markdown."""
    claims = [
        Claim(c["statement"], Verdict(c["verdict"]), c.get("evidence", ""), c.get("margin"), c.get("spread"))
        for c in data.get("claims", [])
    ]
    return Report(
        data["title"],
        about=data.get("about", ""),
        claims=claims,
        tables=dict(data.get("tables", {})),
        claims_heading=data.get("claims_heading", Report.claims_heading),
        tables_first=bool(data.get("tables_first", False)),
    )


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def metric_values(values: Mapping[str, float], step: int = 0) -> dict[str, dict[str, float]]:
    """One value per metric key, at ``step``."""
    return {key: {"step": step, "value": float(value)} for key, value in values.items()}


def metric_history(points: Iterable[tuple[int, float]]) -> list[dict[str, float]]:
    """One metric's values at several steps (epochs, 100 ε, ...)."""
    return [{"step": int(step), "value": float(value)} for step, value in points]
