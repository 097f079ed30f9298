"""Hyperparameter search for Word2Vec with Ray Tune, knowing nothing about Kedro.

- :mod:`~session_recs.tuning.space`: ``params:tune`` → checked settings → Ray objects;
- :mod:`~session_recs.tuning.trainable`: the per-trial training function;
- :mod:`~session_recs.tuning.runner`: connect to or start Ray, run or resume the Tuner;
- :mod:`~session_recs.tuning.results`: result tables, the best configuration, figures.

Ray is imported only when a search runs, so parsing and validating stay fast.
"""

from session_recs.tuning.search_settings import SearchSettings
from session_recs.tuning.space import parse_settings

__all__ = ["SearchSettings", "parse_settings"]
