"""Hyperparameter search for Word2Vec with Ray Tune, knowing nothing about Kedro.

- :mod:`~session_recs.tuning.space`: ``params:tune`` → checked settings → Ray objects;
- :mod:`~session_recs.tuning.trainable`: the per-trial training function;
- :mod:`~session_recs.tuning.ray_runtime`: connect to or start Ray, stop it in bounded time;
- :mod:`~session_recs.tuning.runner`: build the Tuner, run it, log its progress;
- :mod:`~session_recs.tuning.stop_resume`: a signal stops a search, a later run resumes it;
- :mod:`~session_recs.tuning.results`: result tables, the best configuration, figures.

Ray is imported only when a search runs, so parsing and validating stay fast.
"""

from session_recs.tuning.search_settings import SearchSettings
from session_recs.tuning.space import parse_settings

__all__ = ["SearchSettings", "parse_settings"]
