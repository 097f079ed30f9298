"""STAN and VSTAN: session-kNN with three exponential decays (and VSTAN's two additions).

STAN (Garg et al., "Sequence and Time Aware Neighborhood for Session-based
Recommendations", SIGIR 2019) weighs the evidence of a neighbour session three ways:

1. **Position in the current session** (``lambda_spw``): a query item clicked ``t`` clicks
   before the last one weighs ``exp(-t / lambda_spw)`` in the (cosine) similarity.
2. **Recency of the neighbour** (``lambda_snh``, in days): a neighbour whose last click is
   ``d`` days older has its similarity multiplied by ``exp(-d / lambda_snh)``.
3. **Position in the neighbour** (``lambda_inh``): an item ``p`` clicks away from the
   neighbour's last click on a query item votes ``exp(-p / lambda_inh)`` of the similarity.

VSTAN (Ludewig et al., "Empirical analysis of session-based recommendation algorithms",
UMUAI 2021) adds V-SKNN's **sequential weighting** of the neighbours (``lambda_ipw``: a
neighbour whose latest shared item is ``t`` clicks back votes ``exp(-t / lambda_ipw)``) and
**idf weighting** (``lambda_idf``: votes for an item scaled by ``1 + lambda_idf x
log(n_sessions / clicks)``), and offers the ``vec`` similarity (the dot product) beside
``cosine``. Any lambda set to None turns its weight off.

Both are :class:`~session_recs.models.knn.SessionKNN` (V-SKNN's sampling of the
``sample_size`` most recent sessions sharing an item, then the ``k`` most similar) with
these weights, session-rec's ``knn.stan.STAN`` and ``knn.vstan.VSKNN_STAN`` with
``remind=True`` and ``extend=False``; the defaults are session-rec's class defaults, with
``k=500``. Recency is measured from the newest training click: a query's own time would
multiply all of its neighbours by the same factor and change no ranking. Without a
``timestamp`` column, sessions later in the training table count as more recent and
``lambda_snh`` is off.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
from pydantic import Field

from session_recs.core.config import Settings
from session_recs.core.tables import to_frame
from session_recs.models.knn import SessionKNN, SessionKNNOptions

log = logging.getLogger(__name__)

_NS_PER_DAY = 86_400 * 10**9


class STANOptions(Settings):
    """Every option of :class:`STAN` (see the module docstring)."""

    k: int = Field(500, ge=1)
    sample_size: int = Field(5000, ge=1)
    lambda_spw: float | None = Field(1.02, gt=0)
    lambda_snh: float | None = Field(5.0, gt=0)
    lambda_inh: float | None = Field(2.05, gt=0)


class VSTANOptions(STANOptions):
    """Every option of :class:`VSTAN`: STAN's and V-SKNN's (see the module docstring)."""

    similarity: Literal["cosine", "vec"] = "cosine"
    lambda_ipw: float | None = Field(1.02, gt=0)
    lambda_idf: float | None = Field(5.0, ge=0)


class STAN(SessionKNN):
    """Sequence- and time-aware session kNN (see the module docstring)."""

    name: ClassVar[str] = "stan"
    Options: ClassVar[type[Settings]] = STANOptions
    search_settings: ClassVar[tuple[type, ...]] = (STANOptions,)
    options: STANOptions  # type: ignore[assignment]  # not SessionKNN's: see neighbourhood()

    def __init__(self, options: Settings | None = None, /, **values: Any) -> None:
        super().__init__(options, **values)
        self._has_times = False

    def neighbourhood(self) -> SessionKNNOptions:
        """Session kNN's search as STAN runs it: its own weights replace V-SKNN's."""
        options = self.options
        return SessionKNNOptions.model_construct(
            k=options.k,
            sample_size=options.sample_size,
            m=None,
            weighting="same",
            weighting_score="same",
            similarity="dot" if getattr(options, "similarity", "cosine") == "vec" else "cosine",
            position_lambda=options.lambda_inh,
            idf_weighting=0.0,
        )

    def fit(self, train: pd.DataFrame, validation_pairs: pd.DataFrame | None = None) -> Self:
        """As :meth:`SessionKNN.fit`; the ``timestamp`` column dates the neighbours."""
        train = to_frame(train)  # an engine's table: read into memory
        self._has_times = train is not None and "timestamp" in train.columns
        if not self._has_times and self.options.lambda_snh is not None:
            log.warning(
                "%s: the training sessions have no timestamp column, so lambda_snh (the "
                "neighbours' recency) is off; sessions later in the table count as newer.",
                self.name,
            )
        return super().fit(train, validation_pairs)

    def _position_weights(self, position: np.ndarray, length: np.ndarray) -> np.ndarray:
        lambda_spw = self.options.lambda_spw
        if lambda_spw is None:
            return np.ones_like(position)
        return np.exp((position - length) / lambda_spw)

    def _recency_weights(self, last_seen: np.ndarray) -> np.ndarray | None:
        lambda_snh = self.options.lambda_snh
        if lambda_snh is None or not self._has_times or not len(last_seen):
            return None
        age_days = (last_seen.max() - last_seen) / _NS_PER_DAY
        return np.exp(-age_days / lambda_snh)


class VSTAN(STAN):
    """STAN with V-SKNN's sequential and idf weighting (see the module docstring)."""

    name: ClassVar[str] = "vstan"
    Options: ClassVar[type[Settings]] = VSTANOptions
    search_settings: ClassVar[tuple[type, ...]] = (VSTANOptions,)
    options: VSTANOptions

    def _weighs_steps(self) -> bool:
        return self.options.lambda_ipw is not None

    def _step_weights(self, step: np.ndarray) -> np.ndarray:
        lambda_ipw = self.options.lambda_ipw
        assert lambda_ipw is not None  # _weighs_steps said so
        return np.exp(-(step - 1.0) / lambda_ipw)

    def _idf_weights(self, idf: np.ndarray) -> np.ndarray:
        lambda_idf = self.options.lambda_idf
        if lambda_idf is None:
            return np.ones_like(idf)
        return 1.0 + lambda_idf * idf
