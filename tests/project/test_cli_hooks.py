"""The ``kedro`` command's hooks: registered by the entry point, and what they do."""

from importlib.metadata import entry_points

from kedro.framework.cli.hooks import get_cli_hook_manager

from practical_dl.project import cli_hooks


def test_the_kedro_command_finds_the_quick_exit_hook():
    names = {ep.value for ep in entry_points(group="kedro.cli_hooks")}
    assert "practical_dl.project.cli_hooks:quick_exit" in names
    assert cli_hooks.quick_exit in get_cli_hook_manager().get_plugins()


def test_after_a_command_the_objects_made_so_far_are_left_to_the_operating_system(monkeypatch):
    frozen = []
    monkeypatch.setattr(cli_hooks.gc, "freeze", lambda: frozen.append(True))
    cli_hooks.quick_exit.after_command_run(project_metadata=None, command_args=["registry", "list"], exit_code=0)
    assert frozen == [True]
