"""House style that a machine can check: ruff over the sources and tests (line length included),
and links in README.md and docs/ that lead somewhere."""

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

RUFF = Path(sys.executable).with_name("ruff")
#: a Markdown link or image ``[text](target)`` / ``![alt](target)``, or an HTML ``<img src="target">``
LINK = re.compile(r"\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")


def test_ruff_finds_nothing():
    result = subprocess.run([str(RUFF), "check", "src", "tests"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_relative_links_and_images_in_the_readme_and_docs_resolve():
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for match in LINK.finditer(page.read_text()):
            target = match[1] or match[2]
            if re.match(r"[a-z][a-z+.-]*:", target) or target.startswith("#"):
                continue  # another site (http:, mailto:) or an anchor on the same page
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
