"""The test suite's one adapter to another package's private names (the package's own is
``practical_dl.project.upstream``); ``tests/test_upstream.py`` fails loudly when a name moves."""

#: Private names of other packages used here, and what each waits for.
WAITING_FOR = {
    "pytest-xdist LoadScopeScheduling._split_scope": (
        "pytest-xdist 3.8's --dist loadgroup no longer groups under pytest 9.2 (it sets item._nodeid, which pytest 9.2 "
        "no longer reads); the suite needs whole modules, and one folder whole, per worker. Remove when loadgroup "
        "groups again (xdist_group marks on tests/integration/explored/)"
    ),
}


def module_scheduler(config, log, shared_folders: tuple[str, ...]):
    """pytest-xdist's scheduler handing out whole modules, and each of ``shared_folders`` whole, in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # keep the order of pytest_collection_modifyitems: the longest first

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return next((folder for folder in shared_folders if module.startswith(folder)), module)

    return ModuleScheduling(config, log)
