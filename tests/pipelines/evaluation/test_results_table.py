"""The lecture's table as the evaluation pipeline writes it (results.md) and draws it."""

import matplotlib

matplotlib.use("Agg")

from practical_dl.pipelines.evaluation.nodes import summarise_results  # noqa: E402
from practical_dl.project.figures import close
from practical_dl.project.reporting import render_report
from practical_dl.tools.readme_pictures import results_table_figure


def _metrics(label, error, reference, loss):
    return {
        "label": label,
        "test_error_percent": error,
        "reference_error_percent": reference,
        "test_loss": loss,
        "parameters": 233848,
        "epochs_trained": 8,
        "best_epoch": 7,
        "training_seconds": 200.31,
        "test_images": 10000,
    }


def test_errors_keep_two_decimals_in_the_markdown_and_the_picture():
    table, report = summarise_results(_metrics("SimpLeNet", 0.74, 0.79, 0.02119), _metrics("SimpLeNet+", 0.4, None, 0.11))
    markdown = render_report(report)
    rows = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
        for line in markdown.splitlines()
        if line.startswith("| Simp")
    }
    assert rows["SimpLeNet+"][:3] == ["0.40", "—", "0.1100"], markdown
    assert rows["SimpLeNet"][:3] == ["0.74", "0.79", "0.0212"], markdown
    assert rows["SimpLeNet+"][-2:] == ["200.3", "10000"], markdown
    figure = results_table_figure(table)
    texts = {cell.get_text().get_text() for cell in figure.axes[0].tables[0].get_celld().values()}
    close(figure)
    assert "0.40" in texts and "0.4" not in texts
    assert "233,848" in texts


def test_each_lecture_model_is_claimed_under_the_lectures_error():
    table, report = summarise_results(
        _metrics("SimpLeNet", 0.74, 0.79, 0.02), _metrics("FC64", 2.9, 2.85, 0.1), _metrics("SimpLeNet+", 0.4, None, 0.1)
    )
    assert [(c.statement, c.verdict.value, c.evidence) for c in report.claims] == [
        ("SimpLeNet trains to a test error under the lecture's 0.79%", "holds", "0.74% against 0.79%"),
        ("FC64 trains to a test error under the lecture's 2.85%", "contradicted", "2.90% against 2.85%"),
    ]  # SimpLeNet+ is not in the lecture
    markdown = render_report(report, log=False)
    assert markdown.index("## Every model") < markdown.index("## The lecture's claims")
