"""Fuzzing the draw-a-digit page's API from its own OpenAPI schema (schemathesis, in-process over ASGI).

At least 500 generated requests: bodies that fit the schema (any string as the image), bodies that
do not (negative mode), real drawings, and the GET operations. No answer may be a 5xx other than a
deliberate 503, every answer must have a documented status code and content type and match its
typed schema, and a body that breaks the schema must be refused.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from practical_dl.serving.demo.app import create_app
from tests.serving.demo import png_data_url, seven, small_classifiers

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 520


def test_fuzzing_the_api_finds_no_server_error_and_no_answer_off_its_schema():
    app = create_app(small_classifiers())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    predict = schema["/api/predict"]["POST"]
    drawings = [png_data_url(seven), png_data_url(), png_data_url(lambda d: d.ellipse((90, 60, 190, 220), outline="black", width=16))]
    strategies = [
        predict.as_strategy(GenerationMode.POSITIVE),
        predict.as_strategy(GenerationMode.NEGATIVE),
        st.sampled_from(drawings).flatmap(lambda image: predict.as_strategy(body={"image": image})),
        *(schema[path]["GET"].as_strategy() for path in ("/api/models", "/healthz", "/readyz")),
    ]
    answered: Counter[tuple[str, int]] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests on every run
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def one_request(case):
        response = case.call()
        status = response.status_code
        answered[(case.operation.label, status)] += 1
        assert status < 500 or (status == 503 and response.json()["status"] == "overloaded"), (status, response.text[:300])
        negative = case.meta is not None and case.meta.generation.mode == GenerationMode.NEGATIVE
        case.validate_response(response, checks=[*CHECKS, *([negative_data_rejection] if negative else [])])

    one_request()
    assert sum(answered.values()) >= 500, answered
    statuses = {status for (_, status) in answered}
    assert {200, 422} <= statuses, answered  # both real predictions and refusals were checked against their schemas
