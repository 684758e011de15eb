"""Building the pipelines is cheap: ``kedro registry list`` (and kedro-viz) imports no torch, and
every node's annotations still resolve, as Kedro's validation of typed parameters needs."""

import json
import subprocess
import sys

from tests.conftest import ROOT

#: What building a pipeline must not import: seconds of start-up on 2 cores.
HEAVY = ("torch", "torchvision", "kornia", "torchmetrics", "art")

BUILD_EVERY_PIPELINE = """
import json, sys, typing
from pathlib import Path
from kedro.framework.startup import bootstrap_project
bootstrap_project(Path.cwd())
from kedro.framework.project import pipelines
names = sorted(pipelines)  # what `kedro registry list` does: every pipeline is built
# imported = run: its submodules loaded
heavy = sorted(m for m in {heavy!r} if any(k.startswith(m + ".") for k in sys.modules))
unresolved = []
for name in names:
    for node in pipelines[name].nodes:
        try:
            typing.get_type_hints(node.func)  # what Kedro calls to find a node's typed parameters
        except Exception as exc:
            unresolved.append(f"{{node.name}}: {{exc!r}}")
print(json.dumps({{"pipelines": names, "heavy": heavy, "unresolved": sorted(set(unresolved))}}))
"""


def test_building_every_pipeline_imports_no_torch_and_every_annotation_resolves():
    code = BUILD_EVERY_PIPELINE.format(heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"__default__", "lecture", "training", "adversarial", "gan"} <= set(found["pipelines"])
    assert found["heavy"] == [], "building the pipelines imported " + ", ".join(found["heavy"])
    assert found["unresolved"] == []
