"""A pipeline run before the pipelines that make its inputs, through a KedroSession (``--env test``):
it stops before any node, naming each missing input and the pipeline to run first (the CLI's
words for it: ``test_cli_messages``)."""

import re

import pytest

from tests.conftest import run

pytestmark = pytest.mark.integration


def test_pipeline_before_its_inputs_says_which_pipeline_to_run_first(project):
    from practical_dl.project.hooks.inputs import MissingInputError

    with pytest.raises(MissingInputError) as err:
        run(project, pipeline_names=["evaluation"])
    message = str(err.value)
    assert re.search(r"^  - .*\bsimplenet\.classifier\b.*: run `kedro run --pipelines training` first$", message, re.M), message
    assert "  - test_split: run `kedro run --pipelines data_ingestion` first" in message
    # the classifier carries its standardisation: evaluation no longer reads the statistics
    assert "standardisation_stats" not in message
