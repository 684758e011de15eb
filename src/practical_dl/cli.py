"""The project's ``kedro run``: Kedro's own, with a user's mistake told in a few lines.

A bad parameter, an unknown pipeline, an input no run has made yet and a tracking server that does
not answer end the run with exit status 1 and a short message instead of a traceback. ``--verbose``
(or ``PRACTICAL_DL_VERBOSE=1``) shows the whole traceback, and Kedro's own log lines, instead.
"""

from __future__ import annotations

import logging
import os
import pkgutil
import sys
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

from practical_dl.core.params import ParameterError
from practical_dl.project.hooks.inputs import MissingInputError
from practical_dl.project.hooks.mlflow_store import TrackingServerUnreachable

#: What a user can put right; anything else is a bug and keeps its traceback.
USER_ERRORS = (ParameterError, MissingInputError, TrackingServerUnreachable)


def known_pipelines() -> list[str]:
    """The names ``--pipelines`` accepts: every package under ``practical_dl.pipelines`` and ``__default__``."""
    import practical_dl.pipelines as package

    return ["__default__", *sorted(module.name for module in pkgutil.iter_modules(package.__path__) if module.ispkg)]


def check_pipeline_names(names: list[str]) -> None:
    """Raise :class:`ParameterError` naming each unknown pipeline and the known ones."""
    known = known_pipelines()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ParameterError(
            f"unknown pipeline {', '.join(repr(n) for n in unknown)}; the pipelines are: {', '.join(known)}\n"
            "run them with `kedro run --pipelines NAME[,NAME...]` (`kedro registry list` lists them too)"
        )


def user_error(exc: BaseException, scope: list[str] | None = None) -> BaseException | None:
    """The user's mistake behind ``exc`` (itself, or what it was raised from), if it is one.

    Kedro's failed validation of typed parameters is told in the project's words
    (:func:`~practical_dl.project.context.parameter_error`, the pipelines in ``scope``; None: all).
    """
    from kedro.validation.exceptions import ParameterValidationError

    from practical_dl.project.context import load_project_parameters, parameter_error

    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ParameterValidationError):
            return parameter_error(load_project_parameters(), scope, exc)
        if isinstance(exc, USER_ERRORS):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _quiet_kedro_validation() -> None:
    """Kedro logs each failed parameter too; the message is printed once, by this command."""
    logging.getLogger("kedro.validation.parameter_validator").setLevel(logging.CRITICAL)


@click.group(name="practical_dl")
def cli() -> None:
    """The project's commands (Kedro's ``run``, telling a user's mistake in a few lines)."""


@cli.command(name="run", params=list(kedro_run.params), help=kedro_run.help, context_settings=kedro_run.context_settings)
@click.option("--verbose", is_flag=True, default=False, help="On a mistake, show the whole traceback instead of a short message.")
def run(verbose: bool, **kwargs: Any) -> Any:
    verbose = verbose or os.environ.get("PRACTICAL_DL_VERBOSE", "") not in ("", "0")
    names: list[str] = []
    try:
        if not verbose:
            _quiet_kedro_validation()
        names = list(kwargs.get("pipelines") or []) + ([kwargs["pipeline"]] if kwargs.get("pipeline") else [])
        check_pipeline_names(names)
        return kedro_run.callback(**kwargs)
    except Exception as exc:
        mistake = user_error(exc, None if not names or "__default__" in names else names)
        if verbose or mistake is None:
            raise
        click.secho(f"Error: {mistake}", fg="red", err=True)
        click.echo("(`kedro run --verbose ...` shows the traceback)", err=True)
        sys.exit(1)
