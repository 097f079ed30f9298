"""The MLflow run a search's trials log under, when a ``kedro run`` is tracked.

:class:`~session_recs.framework.tracking.MlflowTrackingHooks` notes the run here when it
opens one (:func:`set_active_run`) and clears it when the run ends; the tune node asks
:func:`tune_callbacks` for Ray Tune's MLflow callback, which is empty when tracking is off.
The library holds the note so that the tune node never imports the Kedro wiring above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrackingRun:
    """The MLflow run a ``kedro run`` logs to."""

    tracking_uri: str
    experiment_name: str
    run_id: str


_active: TrackingRun | None = None


def active_run() -> TrackingRun | None:
    """The MLflow run of the pipeline running in this process, if tracking is on."""
    return _active


def set_active_run(run: TrackingRun | None) -> None:
    """Note (or, with None, forget) the MLflow run of the pipeline running in this process."""
    global _active  # noqa: PLW0603 (one run per process, noted by the tracking hooks)
    _active = run


def tune_callbacks(experiment: str) -> list[Any]:
    """Ray Tune callbacks that log each trial of ``experiment`` as a nested MLflow run.

    Empty when tracking is off, so the tune runner can always add them.
    """
    run = active_run()
    if run is None:
        return []
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class TrialRuns(MLflowLoggerCallback):
        """Ray's MLflow callback, ending the runs of trials a stopped search left open
        (as KILLED) instead of leaving them RUNNING."""

        def on_experiment_end(self, trials: list, **info: Any) -> None:
            super().on_experiment_end(trials, **info)
            for trial, run_id in list(self._trial_runs.items()):
                if trial.status not in ("TERMINATED", "ERROR"):
                    self.mlflow_util.end_run(run_id=run_id, status="KILLED")

    return [
        TrialRuns(
            tracking_uri=run.tracking_uri,
            experiment_name=run.experiment_name,
            tags={"mlflow.parentRunId": run.run_id, "tune_experiment": experiment},
            save_artifact=False,
        )
    ]
