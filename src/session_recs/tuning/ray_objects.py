"""A checked :class:`~session_recs.tuning.search_settings.SearchSettings` as Ray Tune objects:
the search space, the search algorithm and the trial scheduler (Ray imported on use)."""

from __future__ import annotations

from typing import Any

from session_recs.tuning.search_settings import SearchSettings


def param_space(settings: SearchSettings) -> dict[str, Any]:
    """The Ray Tune ``param_space``: one search-space object per searched hyperparameter."""
    return {name: domain.to_ray() for name, domain in settings.space.items()}


def search_algorithm(settings: SearchSettings) -> Any:
    """Ray's basic variant generator (grid/random) or Optuna's TPE through Ray Tune."""
    points = [dict(point) for point in settings.points_to_evaluate] or None
    if settings.search_alg == "basic":
        from ray.tune.search import BasicVariantGenerator

        return BasicVariantGenerator(points_to_evaluate=points, random_state=settings.seed)
    import optuna
    from optuna.samplers import TPESampler
    from ray.tune.search.optuna import OptunaSearch

    # Optuna's records go through the project's logging (Kedro's handlers), warnings only.
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    sampler = TPESampler(seed=settings.seed, **settings.tpe)
    return OptunaSearch(points_to_evaluate=points, sampler=sampler)


def trial_scheduler(settings: SearchSettings) -> Any:
    """ASHA with epochs as the resource, or first-in-first-out (no early stopping)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if settings.scheduler.kind == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="epoch",
        max_t=settings.max_epochs,
        grace_period=settings.scheduler.grace_period,
        reduction_factor=settings.scheduler.reduction_factor,
    )
