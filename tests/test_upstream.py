"""Other packages' private names: used only in the two adapter modules, and still where those expect them.

A name with a leading underscore of Kedro, kedro-mlflow, MLflow, pydantic, pytest or pytest-xdist
may break on the next minor release. ``practical_dl.project.upstream`` (the package) and
``tests/upstream.py`` (the suite) hold every such use with what it waits for; the walk below fails
on any other, and the last tests fail loudly when a name the adapters use has moved.
"""

import ast
import importlib
import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*sorted((ROOT / "src" / "practical_dl").rglob("*.py")), *sorted((ROOT / "tests").rglob("*.py"))]
ADAPTERS = {ROOT / "src" / "practical_dl" / "project" / "upstream.py", ROOT / "tests" / "upstream.py"}
PACKAGES = ("kedro", "kedro_mlflow", "kedro_datasets", "kedro_datasets_experimental", "mlflow", "pydantic", "pytest", "_pytest", "xdist")
#: the methods and attributes Kedro documents for writing a dataset: its extension points, inside a dataset class
DATASET_EXTENSION_POINTS = {
    *("_load", "_save", "_describe", "_exists", "_release", "_filepath", "_version", "_get_load_path", "_get_save_path"),
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in SOURCES}


def _own_names(trees) -> set[str]:
    """Every underscore name this repository defines itself (functions, classes, variables, attributes of self)."""
    own = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.arg):
                own.add(node.arg)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name):
                if node.value.id in ("self", "cls"):
                    own.add(node.attr)
    return {name for name in own if _private(name)} - DATASET_EXTENSION_POINTS


def _uses(path: Path, tree: ast.Module, own: set[str]) -> list[str]:
    """The private names of other packages ``tree`` imports, reads, calls or sets (one line each)."""
    found = []
    where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            found += [f"{where}:{node.lineno} imports {node.module}.{a.name}" for a in node.names if _private(a.name)]
            if any(_private(part) for part in node.module.split(".")[1:]):
                found.append(f"{where}:{node.lineno} imports from {node.module}")
        elif isinstance(node, ast.Import):
            found += [f"{where}:{node.lineno} imports {a.name}" for a in node.names if any(_private(p) for p in a.name.split(".")[1:])]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls") or ast.unparse(node.value) == "super()"
            if node.attr in DATASET_EXTENSION_POINTS and not on_self:
                found.append(f"{where}:{node.lineno} uses {ast.unparse(node)} outside its dataset")
            elif node.attr not in own and node.attr not in DATASET_EXTENSION_POINTS:
                found.append(f"{where}:{node.lineno} uses {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "hasattr"):
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value) and name.value not in own:
                found.append(f"{where}:{node.lineno} {node.func.id}(..., {name.value!r})")
    return found


def test_no_private_name_of_another_package_is_used_outside_the_adapters():
    trees = _trees()
    own = _own_names(trees)
    found = [use for path, tree in trees.items() if path not in ADAPTERS for use in _uses(path, tree, own)]
    assert not found, "use a public API, or move the use to an adapter module with what it waits for:\n" + "\n".join(found)


def test_the_walk_finds_each_kind_of_use(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from kedro.validation.utils import _MISSING\n"
        "import kedro.framework._private\n"
        "registry._requested_pipelines\n"
        "getattr(node, '_inputs')\n"
        "catalog.get(name)._describe()\n"
        "self._describe()\n"
    )
    uses = _uses(sample, ast.parse(sample.read_text()), own=set())
    assert len(uses) == 5 and not any(":6 " in use for use in uses), uses


def _package_classes():
    """Every class defined in ``practical_dl`` and the other-package classes it derives from."""
    import practical_dl

    for path in sorted(Path(practical_dl.__file__).parent.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts).removesuffix(".__init__")
        if name.endswith("upstream") or "mlflow_model_code" in name:
            continue
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                yield cls, [base for base in cls.__mro__[1:] if base.__module__.split(".")[0] in PACKAGES]


def test_no_class_overrides_a_private_member_of_another_package():
    from kedro.io import AbstractDataset

    own = _own_names(_trees()) | DATASET_EXTENSION_POINTS  # names the metaclasses set (_abc_impl, ...) are not ours
    found = []
    for cls, bases in _package_classes():
        for name in vars(cls):
            if not _private(name) or name not in own or not any(name in vars(base) for base in bases):
                continue
            if issubclass(cls, AbstractDataset) and name in DATASET_EXTENSION_POINTS:
                continue
            found.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    assert not found, "overrides of private members:\n" + "\n".join(found)


def test_the_private_names_the_adapters_use_are_still_there():
    """Fails when an upstream release moves a name an adapter relies on: then see its WAITING_FOR entry."""
    from kedro.io.core import Version
    from kedro_mlflow.io.artifacts import MlflowArtifactDataset
    from xdist.scheduler import LoadScopeScheduling

    from practical_dl.project import upstream
    from tests import upstream as suite_upstream

    assert callable(vars(LoadScopeScheduling).get("_split_scope")), suite_upstream.WAITING_FOR
    config = {"type": "json.JSONDataset", "filepath": "x.json", "versioned": True}
    dataset = upstream.use_catalog_version(MlflowArtifactDataset(dataset=config), Version(None, "2026-01-01T00.00.00.000Z"))
    assert dataset.resolve_save_version() == "2026-01-01T00.00.00.000Z", upstream.WAITING_FOR
