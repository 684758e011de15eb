"""The ``lecture`` pipeline's node: the lecture's page in
markdown and self-contained HTML, every claim with its verdict, every part with its figure and time."""

import base64
import io
import re

import pytest
from PIL import Image

from practical_dl.core.params import ParameterError
from practical_dl.pipelines.lecture.nodes import LectureParameters, make_lecture_page
from practical_dl.project.lecture import LECTURE_PARTS
from practical_dl.project.reporting import Claim, Report, Verdict
from practical_dl.project.run_record import NodeRun, RunRecord


def _png(width: int = 900, height: int = 300) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def _reports() -> dict[str, Report]:
    """One made report per part that has one, its claims of every verdict (and characters HTML must escape)."""
    return {
        part.name: Report(
            f"{part.title}: what these runs show",
            claims=[
                Claim.check(f"{part.name} claim one <holds> & more", True, "1.2% against 3.4%"),
                Claim.from_margin(f"{part.name} claim two", 0.1, 0.5, "within the noise"),
                Claim.check(f"{part.name} claim three", False, "10 against 5"),
            ],
        )
        for part in LECTURE_PARTS
        if part.report
    }


def _page(reports: dict[str, Report], runs: RunRecord | None = None, **lecture) -> dict[str, str]:
    inputs = []
    for part in LECTURE_PARTS:
        inputs += ([reports[part.name]] if part.report else []) + [_png()]
    return make_lecture_page(LectureParameters.from_dict(lecture, "lecture"), runs or RunRecord(), *inputs)


def test_the_page_lists_every_claim_of_every_part_with_its_verdict():
    reports = _reports()
    page = _page(reports)
    markdown = page["markdown"].splitlines()
    for report in reports.values():
        for claim in report.claims:
            assert claim.line() in markdown
    assert page["markdown"].startswith("# Practical Deep Learning: what the lecture's claims came to\n")
    assert "27 claims in 10 parts: 9 holds, 9 not shown, 9 contradicted" in page["markdown"]
    for number, part in enumerate(LECTURE_PARTS, 1):
        assert f"## {number}. {part.title} (—)" in markdown and f"`{part.command}`" in page["markdown"]
    assert "Shows what the augmentation does" in page["markdown"]  # the part with no claim of its own says why


def test_the_html_colours_every_verdict_embeds_every_figure_and_fetches_nothing():
    reports = _reports()
    html = _page(reports, thumbnail_width=300)["html"]
    rows = re.findall(r'<tr class="claim" data-verdict="([a-z ]+)">', html)
    assert rows == [claim.verdict.value for report in reports.values() for claim in report.claims]
    for verdict, css in ((Verdict.HOLDS, "holds"), (Verdict.NOT_SHOWN, "not-shown"), (Verdict.CONTRADICTED, "contradicted")):
        assert f'<span class="verdict {css}">{verdict.value}</span>' in html
    assert "tricks claim one &lt;holds&gt; &amp; more" in html and "<holds>" not in html
    assert "margin +0.1 ± 0.5" in html  # the number behind a verdict weighed against the noise
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(LECTURE_PARTS)
    with Image.open(io.BytesIO(base64.b64decode(images[0]))) as thumbnail:
        assert thumbnail.size == (300, 100)
    assert not re.search(r"(src|href)=\"(https?:)?//", html) and "<script" not in html and "<link" not in html


def test_each_part_shows_the_time_its_nodes_took():
    runs = RunRecord(
        nodes={
            "a": NodeRun(part="tricks", seconds=400.0),
            "b": NodeRun(part="tricks", seconds=31.0),
            "c": NodeRun(part="gan", seconds=12.0),
            "d": NodeRun(part="tricks"),  # never run since the record was kept: adds nothing
        }
    )
    page = _page(_reports(), runs)
    assert "## 3. Tricks of the trade (7 min 11 s)" in page["markdown"]
    assert "## 10. A DCGAN (12 s)" in page["markdown"]
    assert "7 min 23 s of pipeline time (parts without a recorded time left out)" in page["markdown"]
    assert '<span class="time">7 min 11 s</span>' in page["html"]


def test_reference_times_are_for_parts_of_the_lecture():
    with pytest.raises(ParameterError, match="'tricksy'"):
        LectureParameters.from_dict({"reference_seconds": {"tricksy": 3}}, "lecture")
