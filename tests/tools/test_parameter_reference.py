"""docs/parameters.md says what the nodes' parameter types say."""

from practical_dl.tools.parameter_reference import main, render
from tests.conftest import ROOT


def test_the_parameter_reference_is_in_step_with_the_types(monkeypatch):
    from practical_dl.project import context

    monkeypatch.setattr(context, "_active_loader", None)  # the project's own conf/, not an earlier test run's
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    assert main(["--project", str(ROOT), "--check"]) == 0, "run `python -m practical_dl.tools.parameter_reference`"


def test_the_reference_shows_each_key_its_range_and_default():
    from practical_dl.project.parameters import TrainingSettings

    page = render({"training_defaults": TrainingSettings})
    assert "| `training_defaults` | [TrainingSettings](#trainingsettings) |" in page
    assert "| `lr` | number (> 0) | `0.05` | Peak learning rate of the schedule. |" in page
    assert '| `optimizer` | `"sgd"` \\| `"adam"` \\| `"adamw"` | `"sgd"` |' in page
