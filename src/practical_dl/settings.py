"""Project settings. See https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from kedro.config import OmegaConfigLoader

from practical_dl.hooks import CheckInputsHook, ValidateParametersHook

# kedro-mlflow registers its own hook through its plugin entry point.
HOOKS = (ValidateParametersHook(), CheckInputsHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # an environment (test, gpu) overrides single keys of a parameter block, not whole blocks
    "merge_strategy": {"parameters": "soft"},
}
