"""Project settings: https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

import warnings

from session_recs.core.logs import route_console
from session_recs.framework.config_loader import ProjectConfigLoader
from session_recs.framework.hooks import (
    AtomicSavesHooks,
    DatasetChoiceHooks,
    DatasetVersionsHooks,
    LoadedModelHooks,
    LoadVersionsHooks,
    ProgressLabelHooks,
    RunSummaryHooks,
)
from session_recs.framework.session import ProjectSession
from session_recs.framework.tracking import MlflowTrackingHooks

# One line per finished node, no warnings users cannot act on (session_recs.core.logs).
route_console()

# Kedro's own config loader registers OmegaConf resolvers through a call omegaconf now
# deprecates; the warning (twice per run) is nothing a user of this project can act on.
warnings.filterwarnings(
    "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning
)


HOOKS = (
    DatasetChoiceHooks(),
    LoadVersionsHooks(),
    AtomicSavesHooks(),
    ProgressLabelHooks(),
    DatasetVersionsHooks(),
    LoadedModelHooks(),
    MlflowTrackingHooks(),
    RunSummaryHooks(),
)

# kedro-mlflow (the optional `mlflow` extra) tracks only when asked for: the project's
# MlflowTrackingHooks run its hook when the config has an mlflow.yml (--env=mlflow).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")

# Every run is planned first: missing data made, filters checked (session_recs.framework.run_plan).
SESSION_CLASS = ProjectSession

# Parameters are the chosen dataset's: defaults, its block, what its source provides
# (session_recs.framework.config_loader).
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An env's (or conf/local's) parameters file overrides base key by key, so
    # `--env=cluster --params=tune.smoke=true` keeps base's `tune` presets.
    "merge_strategy": {"parameters": "soft"},
}
