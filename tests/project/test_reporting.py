"""Claims and their one renderer: three verdicts, a margin weighed against its spread, and a report
rendered the same way for every pipeline."""

import logging
import math

import pandas as pd
import pytest

from practical_dl.project.reporting import Claim, Report, Verdict, render_report


@pytest.mark.parametrize(
    ("margin", "spread", "verdict"),
    [
        (2.0, 0.5, Verdict.HOLDS),
        (0.3, 0.5, Verdict.NOT_SHOWN),  # inside the noise: neither borne out nor contradicted
        (-0.3, 0.5, Verdict.NOT_SHOWN),
        (0.5, 0.5, Verdict.NOT_SHOWN),  # exactly the spread is not more than it
        (-2.0, 0.5, Verdict.CONTRADICTED),
        (0.1, 0.0, Verdict.HOLDS),
        (math.nan, 0.5, Verdict.NOT_SHOWN),
    ],
)
def test_a_margin_is_weighed_against_its_spread(margin, spread, verdict):
    claim = Claim.from_margin("Transfer beats training from scratch", margin, spread, "made numbers")
    assert claim.verdict is verdict
    assert (claim.margin, claim.spread) == (margin, spread) or math.isnan(margin)


def test_a_margin_inside_the_spread_renders_as_not_shown():
    # made numbers: transfer 78.0 ± 2.5 points against scratch 76.5 ± 2.0 — a margin of 1.5 inside the spread
    claim = Claim.from_margin("Transfer is worth points with 10 images per class", 78.0 - 76.5, 2.5, "78.0 ± 2.5% vs 76.5 ± 2.0%")
    markdown = render_report(Report("Transfer", claims=[claim]))
    assert "- Transfer is worth points with 10 images per class: **not shown** — 78.0 ± 2.5% vs 76.5 ± 2.0%." in markdown
    assert "**holds**" not in markdown and "**contradicted**" not in markdown


def test_a_yes_no_check_holds_or_is_contradicted():
    assert Claim.check("a", True).verdict is Verdict.HOLDS
    assert Claim.check("a", False, "x").line() == "- a: **contradicted** — x."
    assert Claim.check("a", True).line() == "- a: **holds**."


def test_a_claim_needs_a_statement_a_verdict_and_a_spread_that_is_a_spread():
    with pytest.raises(ValueError, match="statement"):
        Claim.check(" ", True)
    with pytest.raises(TypeError, match="Verdict"):
        Claim("a", "holds")
    with pytest.raises(ValueError, match="spread"):
        Claim.from_margin("a", 1.0, -0.1)
    with pytest.raises(ValueError, match="spread"):
        Claim.from_margin("a", 1.0, math.nan)


def test_a_report_renders_title_about_claims_and_tables_in_order(caplog):
    table = pd.DataFrame({"member": ["a", "b"], "error": [1.5, 2.0]})
    claims = [Claim.check("First", True, "1 vs 2"), Claim.check("Second", False, "3 vs 2")]
    with caplog.at_level(logging.INFO):
        markdown = render_report(Report("Title", about="How it was measured.", claims=claims, tables={"Every member": table}))
    assert markdown == (
        "# Title\n\nHow it was measured.\n\n## The lecture's claims\n\n"
        "- First: **holds** — 1 vs 2.\n- Second: **contradicted** — 3 vs 2.\n\n"
        "## Every member\n\n" + table.to_markdown(index=False) + "\n"
    )
    assert [r.getMessage() for r in caplog.records] == ["First: holds — 1 vs 2.", "Second: contradicted — 3 vs 2."]


def test_tables_first_and_a_named_claims_section():
    markdown = render_report(
        Report(
            "T", claims=[Claim.check("C", True)], tables={"Numbers": "| a |\n|---|"}, claims_heading="What the runs show", tables_first=True
        ),
        log=False,
    )
    assert markdown.index("## Numbers") < markdown.index("## What the runs show") < markdown.index("- C: **holds**.")
