"""How far a run is and how long is left: the plan at the start, one line after each node.

Each node is expected to take what it took when it last ran (the run record); a node with no
recorded time, its part's reference time (``lecture.reference_seconds``, measured on 2 CPU cores)
shared out over the part's nodes; a node with neither is left out of the estimate. The lines::

    Plan: 79 of 79 nodes to run in 10 parts, about 47 min
      default: 21 nodes, about 5 min 29 s
    [12/79] tricks: tricks.learning_rate.lr_0_01.train_member done in 3.2 s; about 41 min left
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from practical_dl.project.reporting import duration


def expected_seconds(
    planned: Sequence[str],
    part: Mapping[str, str],
    recorded: Mapping[str, float | None],
    reference: Mapping[str, float],
    part_nodes: Mapping[str, Sequence[str]],
) -> dict[str, float | None]:
    """Each planned node's expected time: its recorded one; else what its part's reference time leaves
    after the part's recorded nodes, shared out over those not recorded; else None.

    ``part_nodes``: every node of each part in this run's pipeline (not only the planned ones).
    """
    expected: dict[str, float | None] = {}
    for name in planned:
        seconds = recorded.get(name)
        if seconds is None and part[name] in reference:
            nodes = part_nodes.get(part[name], ())
            known = [recorded[n] for n in nodes if recorded.get(n) is not None]
            seconds = max(0.0, reference[part[name]] - sum(known)) / max(1, len(nodes) - len(known))
        expected[name] = seconds
    return expected


def time_left(seconds: float | None) -> str:
    """``about 41 min left``, ``under a minute left``; ``time left unknown`` without an estimate."""
    if seconds is None:
        return "time left unknown"
    if seconds < 60:
        return "under a minute left"
    return f"about {round(seconds / 60)} min left" if seconds < 3600 else f"about {duration(seconds)} left"


@dataclass
class Progress:
    """A run's plan (its nodes in order, each with its part and expected time) and how far it is."""

    planned: list[str]
    part: dict[str, str]
    expected: dict[str, float | None]
    done: set[str] = field(default_factory=set)

    def remaining(self) -> float | None:
        """The expected time of the planned nodes not yet done, those without an estimate left out (None: none has one)."""
        left = [self.expected[name] for name in self.planned if name not in self.done]
        known = [s for s in left if s is not None]
        return None if left and not known else sum(known)

    def plan_lines(self, total_nodes: int) -> list[str]:
        """The plan: how many nodes run (of how many), in how many parts, how long; one line per part."""
        parts: dict[str, list[str]] = {}
        for name in self.planned:
            parts.setdefault(self.part[name], []).append(name)
        if not self.planned:
            return [f"Plan: nothing to run, all {total_nodes} nodes are done and up to date"]
        estimate = self.remaining()
        about = f", about {duration(estimate)}" if estimate is not None else ""
        lines = [f"Plan: {len(self.planned)} of {total_nodes} nodes to run in {len(parts)} part{'s' if len(parts) != 1 else ''}{about}"]
        for part, names in parts.items():
            seconds = [self.expected[n] for n in names if self.expected[n] is not None]
            part_about = f", about {duration(sum(seconds))}" if seconds else ""
            lines.append(f"  {part}: {len(names)} node{'s' if len(names) != 1 else ''}{part_about}")
        return lines

    def finished(self, name: str, seconds: float) -> str:
        """The line after node ``name``: ``[k/N] <part>: <node> done in X s; about M min left``."""
        if name in self.planned:
            self.done.add(name)
        part = self.part.get(name, "?")
        return f"[{len(self.done)}/{len(self.planned)}] {part}: {name} done in {seconds:.1f} s; {time_left(self.remaining())}"
