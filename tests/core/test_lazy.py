import subprocess
import sys

from practical_dl.core.lazy import on_first_use


def test_the_module_is_imported_when_a_name_is_first_used_and_not_before():
    code = (
        "import sys\n"
        "from practical_dl.core.lazy import on_first_use\n"
        "json = on_first_use('json')\n"
        "before = 'json' in sys.modules\n"
        "dumps = json.dumps\n"
        "print(before, 'json' in sys.modules, dumps is sys.modules['json'].dumps)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]


def test_it_resolves_in_annotations_as_kedro_reads_them():
    import typing

    collections = on_first_use("collections")

    def node(counts: collections.Counter) -> collections.OrderedDict: ...

    import collections as real

    assert typing.get_type_hints(node) == {"counts": real.Counter, "return": real.OrderedDict}


def test_a_name_once_used_is_kept_on_the_stand_in():
    json = on_first_use("json")
    dumps = json.dumps
    assert vars(json)["dumps"] is dumps  # later uses skip the import lookup
