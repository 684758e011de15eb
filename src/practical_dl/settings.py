"""Project settings. See https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

import os
from pathlib import Path

from kedro.utils import find_kedro_project

from practical_dl.core.distributed import is_main_process
from practical_dl.project.context import ProjectConfigLoader, ProjectContext
from practical_dl.project.hooks.distributed import DistributedRunHook
from practical_dl.project.hooks.inputs import CheckInputsHook
from practical_dl.project.hooks.interrupt import InterruptHook
from practical_dl.project.hooks.mlflow_params import TypedParamsMlflowHook
from practical_dl.project.hooks.mlflow_store import CheckTrackingServerHook, LockMlflowStoreHook, UnlockMlflowStoreHook
from practical_dl.project.hooks.run_info import RunInfoHook
from practical_dl.project.hooks.run_record import RunRecordHook
from practical_dl.project.known_warnings import silence_known_warnings

silence_known_warnings()  # named one by one in practical_dl.project.known_warnings

# kedro-mlflow's hook comes from here, not its plugin entry point: typed parameter blocks reach MLflow
# as flat keys (TypedParamsMlflowHook); Kedro itself validates typed `params:` inputs before any hook.
HOOKS = (
    CheckTrackingServerHook(),  # --env remote: a tracking server that does not answer is named at once
    LockMlflowStoreHook(),  # around kedro-mlflow's set-up of mlflow.db: two runs started together
    UnlockMlflowStoreHook(),
    CheckInputsHook(),
    RunInfoHook(),
    InterruptHook(),
    DistributedRunHook(),  # under torchrun: ranks other than 0 write nothing
    *((TypedParamsMlflowHook(),) if is_main_process() else ()),
    # each node's time and parameters (data/08_reporting/node_runs.json), what --only-missing-outputs must rerun, progress lines
    *((RunRecordHook(),) if is_main_process() else ()),
)

# Under torchrun only rank 0 tracks and writes: one MLflow run per `kedro run` (kedro-mlflow), one
# record of the run for kedro-viz (.viz/), however many processes train.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow") + (() if is_main_process() else ("kedro-viz", "kedro_viz"))

# records the run's config loader, so that pipelines shaped by parameters follow --env and --params
CONTEXT_CLASS = ProjectContext

# Kedro's OmegaConfigLoader, reading the parameter and catalog files once per run
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # an environment (test, gpu) overrides single keys of a parameter block, not whole blocks; an
    # environment's mlflow.yml (conf/remote) holds only what differs from conf/base/mlflow.yml
    "merge_strategy": {"parameters": "soft", "mlflow": "soft"},
    "custom_resolvers": {
        # ${project_root:} in mlflow.yml: an absolute SQLite path, whatever folder kedro runs from
        "project_root": lambda: (find_kedro_project(Path.cwd()) or Path.cwd()).as_posix(),
        # ${tracking_uri:<default>} in conf/remote/mlflow.yml: the MLFLOW_TRACKING_URI environment
        # variable where set, else the default (Kedro allows oc.env only in credentials)
        "tracking_uri": lambda default: os.environ.get("MLFLOW_TRACKING_URI") or default,
    },
}
