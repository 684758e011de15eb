"""Write ``docs/parameters.md``: every parameter block, key, default and range, from the nodes' types.

``python -m practical_dl.tools.parameter_reference`` rewrites the page; ``--check`` exits 1 when the
page differs from what the types say (the test suite runs it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from practical_dl.core.params import unwrap_optional

PAGE = Path("docs/parameters.md")
HEADER = """# Parameters

Every parameter block the pipelines read, with each key's type, range and default, generated from
the types the nodes declare (`python -m practical_dl.tools.parameter_reference`; do not edit by
hand). Kedro checks a run's parameters against these types before any node runs; a mistake ends
the run with one line per wrong key (see [configuration.md](configuration.md)). The values the
project uses are in `conf/base/parameters_*.yml`; an environment (`conf/test`, `conf/gpu`, ...)
or `--params` changes single keys.
"""


def typed_blocks(project: Path) -> dict[str, type[BaseModel]]:
    """``{parameter key: type}`` for every typed ``params:`` input of every pipeline of the project."""
    from kedro.framework.startup import bootstrap_project
    from kedro.validation.type_extractor import TypeExtractor

    import practical_dl.pipelines as package
    from practical_dl.project.context import load_project_parameters

    bootstrap_project(project)
    parameters = load_project_parameters(project)
    pipelines = {
        module.name: importlib.import_module(f"{package.__name__}.{module.name}").create_pipeline(parameters=parameters)
        for module in pkgutil.iter_modules(package.__path__)
    }
    found = TypeExtractor(pipelines).extract_types_from_pipelines()
    return {key: unwrap_optional(kind) for key, kind in sorted(found.items())}


def _type_text(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in schema:
        return f"[{schema['$ref'].rsplit('/', 1)[-1]}](#{schema['$ref'].rsplit('/', 1)[-1].lower()})"
    if "anyOf" in schema:
        return " or ".join(_type_text(s, defs) for s in schema["anyOf"])
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    kind = schema.get("type", "any")
    if kind == "array":
        kind = f"list of {_type_text(schema.get('items', {}), defs)}"
    elif kind == "object":
        kind = "mapping"
    bounds = [
        f"{word} {schema[key]}"
        for key, word in (("exclusiveMinimum", ">"), ("minimum", "≥"), ("exclusiveMaximum", "<"), ("maximum", "≤"))
        if key in schema
    ]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _table(name: str, schema: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [schema["description"].strip().splitlines()[0], ""]
    lines += ["| key | type | default | what it does |", "|---|---|---|---|"]
    for key, field in schema.get("properties", {}).items():
        default = f"`{json.dumps(field['default'])}`" if "default" in field else "required"
        description = " ".join((field.get("description") or "").split()).replace("|", "\\|")
        lines.append(f"| `{key}` | {_type_text(field, defs)} | {default} | {description} |")
    return [*lines, ""]


def render(blocks: dict[str, type[BaseModel]]) -> str:
    """The page: which type each block has, then one table per type (nested types included)."""
    lines = [HEADER, "## Blocks", "", "| block | type |", "|---|---|"]
    schemas: dict[str, dict[str, Any]] = {}
    for key, kind in blocks.items():
        schema = kind.model_json_schema(by_alias=True)
        defs = schema.pop("$defs", {})
        schemas.setdefault(kind.__name__, schema)
        for name, nested in defs.items():
            schemas.setdefault(name, nested)
        lines.append(f"| `{key}` | [{kind.__name__}](#{kind.__name__.lower()}) |")
    lines += ["", "## Types", ""]
    for name in sorted(schemas):
        schema = schemas[name]
        if schema.get("type") == "array":  # a list block (trained_models)
            lines += [f"### {name}", "", (schema.get("description") or "").strip().splitlines()[0], "", f"A {_type_text(schema, {})}.", ""]
        else:
            lines += _table(name, schema, {})
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="the project folder (default: the current one)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is not what the types say; write nothing")
    args = parser.parse_args(argv)
    page = args.project / PAGE
    text = render(typed_blocks(args.project))
    if args.check:
        if not page.exists() or page.read_text() != text:
            print(f"{page} is out of date: run `python -m practical_dl.tools.parameter_reference`", file=sys.stderr)
            return 1
        return 0
    page.write_text(text)
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
