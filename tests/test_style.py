"""House style that a machine can check: ruff over the sources and tests (line length included), no
path of one machine in a tracked file, short docstring summaries, a short README, and links in
README.md, CONTRIBUTING.md and docs/ that lead somewhere."""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

RUFF = Path(sys.executable).with_name("ruff")
#: a Markdown link or image ``[text](target)`` / ``![alt](target)``, or an HTML ``<img src="target">``
LINK = re.compile(r"\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")
#: a path that exists on one machine only: a work folder, a home folder, a job's scratch folder
MACHINE_PATH = re.compile(r"/work/|/home/[A-Za-z0-9_.-]+/|/Users/|/tmp/bash_jobs")
SUMMARY_LIMIT = 140
README_LIMIT = 200
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_ruff_finds_nothing():
    result = subprocess.run([str(RUFF), "check", "src", "tests"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no list of tracked files")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout
    return [ROOT / name for name in listed.split("\0") if name]


def test_no_tracked_file_names_a_path_of_one_machine():
    this_file = Path(__file__).resolve()
    found = []
    for path in tracked_files():
        if path.resolve() == this_file or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # data: MNIST, pictures
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not found, "paths of one machine (use a path relative to the project, or $HOME):\n" + "\n".join(found)


def test_every_docstring_summary_line_is_short():
    long = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            docstring = ast.get_docstring(node)
            summary = docstring.strip().splitlines()[0] if docstring and docstring.strip() else ""
            if len(summary) > SUMMARY_LIMIT:
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 1)} {getattr(node, 'name', '(module)')}"
                long.append(f"{where}: {len(summary)} characters")
    assert not long, f"docstring summary lines over {SUMMARY_LIMIT} characters:\n" + "\n".join(long)


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_LIMIT, f"README.md has {len(lines)} lines; at most {README_LIMIT}: move the manual to docs/"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)  # a '# comment' in a code block is no heading
    return {github_anchor(match[1]) for match in re.finditer(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


def test_relative_links_and_images_in_the_readme_and_docs_resolve():
    broken = []
    for page in PAGES:
        for match in LINK.finditer(page.read_text()):
            target = match[1] or match[2]
            if re.match(r"[a-z][a-z+.-]*:", target):
                continue  # another site (http:, mailto:)
            file, _, anchor = target.partition("#")
            linked = (page.parent / file) if file else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, broken


def test_the_anchor_of_a_heading_is_githubs():
    assert (
        github_anchor("Transfer learning: ImageNet backbones and your own data") == "transfer-learning-imagenet-backbones-and-your-own-data"
    )
    assert github_anchor("Read your own images: `kedro run --pipelines predict`") == "read-your-own-images-kedro-run---pipelines-predict"
