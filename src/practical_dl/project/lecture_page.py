"""The lecture's page as one self-contained HTML file: each part with its figure (a thumbnail, embedded),
its claims with their verdicts in colour, the number behind each, and its time. No script, no fetch:
it opens from disk, from an MLflow run's artifacts or in kedro-viz's preview."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from html import escape

from practical_dl.project.reporting import Claim, PartFindings, Verdict, duration, lecture_summary, verdict_counts

TITLE = "Practical Deep Learning: what the lecture's claims came to"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330;line-height:1.4}
header{background:#1d2330;color:#fff;padding:22px 32px 18px}
header h1{margin:0 0 6px;font-size:24px}
header p{margin:0 0 12px;color:#c9cfdb}
.bar{display:flex;height:12px;border-radius:6px;overflow:hidden;max-width:720px;background:#3a4252}
.bar span{display:block}
main{padding:8px 32px 32px}
table{border-collapse:collapse}
table.parts{background:#fff;border-radius:8px;margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
table.parts th,table.parts td{padding:6px 12px;text-align:left;border-bottom:1px solid #eceef2;font-size:14px}
table.parts td.n{text-align:right;font-variant-numeric:tabular-nums}
section.part{display:grid;grid-template-columns:minmax(200px,360px) 1fr;gap:20px;background:#fff;border-radius:8px;margin:16px 0;
  padding:16px 20px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
section.part img{width:100%;height:auto;max-height:420px;object-fit:contain;object-position:top left;
  border:1px solid #eceef2;border-radius:4px}
section.part h2{margin:0 0 2px;font-size:19px}
.time{font-weight:400;color:#5b6474;font-size:15px}
.command{color:#5b6474;font-size:13px;margin:0 0 10px}
code{background:#eef0f4;padding:1px 5px;border-radius:4px}
table.claims td{vertical-align:top;padding:6px 8px;border-top:1px solid #eceef2;font-size:14px}
.evidence{color:#5b6474;font-size:13px}
.number{white-space:nowrap;text-align:right;font-variant-numeric:tabular-nums;color:#3a4252}
.verdict{white-space:nowrap;font-weight:600;font-size:13px;border-radius:10px;padding:2px 9px;display:inline-block}
.holds{background:#d7f2dd;color:#17632a}
.not-shown{background:#fff0c2;color:#7a5800}
.contradicted{background:#fbdcdc;color:#a01b1b}
.bar .holds{background:#2e9e4f}.bar .not-shown{background:#e0b000}.bar .contradicted{background:#d03a3a}
.note{color:#5b6474;font-style:italic}
"""


def verdict_class(verdict: Verdict) -> str:
    """The CSS class of a verdict: ``holds``, ``not-shown``, ``contradicted``."""
    return verdict.value.replace(" ", "-")


def thumbnail(png: bytes, width: int) -> bytes:
    """The image scaled down to at most ``width`` pixels wide, as PNG."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        image = image.convert("RGB")
        if image.width > width:
            image = image.resize((width, max(1, round(image.height * width / image.width))), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()


def _number(claim: Claim) -> str:
    if claim.margin is None:
        return ""
    spread = f" ± {claim.spread:.3g}" if claim.spread else ""
    return f"margin {claim.margin:+.3g}{spread}"


def _claim_row(claim: Claim) -> str:
    evidence = f'<div class="evidence">{escape(claim.evidence)}</div>' if claim.evidence else ""
    verdict = escape(claim.verdict.value)
    badge = f'<span class="verdict {verdict_class(claim.verdict)}">{verdict}</span>'
    return (
        f'<tr class="claim" data-verdict="{verdict}"><td>{badge}</td>'
        f'<td>{escape(claim.statement)}{evidence}</td><td class="number">{escape(_number(claim))}</td></tr>'
    )


def _part_section(number: int, part: PartFindings) -> str:
    figure = (
        f'<img src="data:image/png;base64,{base64.b64encode(part.figure).decode()}" alt="{escape(part.title)}: its figure">'
        if part.figure
        else '<div class="note">no figure</div>'
    )
    about = f" · {escape(part.report.title)}" if part.report is not None else ""
    claims = (
        f'<table class="claims">{"".join(_claim_row(c) for c in part.claims)}</table>'
        if part.claims
        else f'<p class="note">{escape(part.note or "No claim of its own.")}</p>'
    )
    return (
        f'<section class="part" id="{escape(part.name)}"><div>{figure}</div><div>'
        f'<h2>{number}. {escape(part.title)} <span class="time">{duration(part.seconds)}</span></h2>'
        f'<p class="command"><code>{escape(part.command)}</code>{about}</p>{claims}</div></section>'
    )


def _parts_table(parts: Sequence[PartFindings]) -> str:
    head = "<tr><th>part</th><th>holds</th><th>not shown</th><th>contradicted</th><th>time</th></tr>"
    rows = []
    for part in parts:
        counts = verdict_counts(part.claims)
        cells = "".join(f'<td class="n">{n or ""}</td>' for n in counts.values())
        rows.append(
            f'<tr><td><a href="#{escape(part.name)}">{escape(part.title)}</a></td>{cells}<td class="n">{duration(part.seconds)}</td></tr>'
        )
    return f'<table class="parts">{head}{"".join(rows)}</table>'


def _bar(parts: Sequence[PartFindings]) -> str:
    counts = verdict_counts(claim for part in parts for claim in part.claims)
    total = sum(counts.values()) or 1
    spans = "".join(
        f'<span class="{verdict_class(v)}" style="width:{100 * n / total:.2f}%" title="{n} {escape(v.value)}"></span>'
        for v, n in counts.items()
        if n
    )
    return f'<div class="bar">{spans}</div>'


def render_lecture_html(parts: Sequence[PartFindings]) -> str:
    """The page: a summary with a bar of the verdicts, a table of the parts, then one section per part."""
    sections = "".join(_part_section(number, part) for number, part in enumerate(parts, 1))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(TITLE)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(TITLE)}</h1><p>{escape(lecture_summary(parts))}</p>{_bar(parts)}</header>"
        f"<main>{_parts_table(parts)}{sections}</main></body></html>\n"
    )
