"""The ``lecture`` pipeline's own node: the lecture's page.

Registered as ``lecture``, it runs every part of the lecture first (``pipeline_registry``, from
:data:`~practical_dl.project.lecture.LECTURE_PARTS`): ``kedro run --pipelines lecture`` or ``make lecture``.
"""

from kedro.pipeline import Node, Pipeline

from practical_dl.pipelines.lecture.nodes import make_lecture_page
from practical_dl.project.lecture import PAGE_TAG, page_inputs


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                make_lecture_page,
                inputs=["params:lecture", "node_runs", *page_inputs()],
                outputs={"markdown": "lecture_markdown", "html": "lecture_html"},
                name="make_lecture_page",
                tags=[PAGE_TAG],
            ),
        ]
    )
