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
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from session_recs.core.config import Settings
from session_recs.models.knn import SessionKNN

log = logging.getLogger(__name__)

_NS_PER_DAY = 86_400 * 10**9


class _STANOptions(Settings):
    k: int = Field(500, ge=1)
    sample_size: int = Field(5000, ge=1)
    lambda_spw: float | None = Field(1.02, gt=0)
    lambda_snh: float | None = Field(5.0, gt=0)
    lambda_inh: float | None = Field(2.05, gt=0)


class _VSTANOptions(_STANOptions):
    similarity: Literal["cosine", "vec"] = "cosine"
    lambda_ipw: float | None = Field(1.02, gt=0)
    lambda_idf: float | None = Field(5.0, ge=0)


class STAN(SessionKNN):
    """Sequence- and time-aware session kNN (see the module docstring)."""

    name: ClassVar[str] = "stan"
    search_settings: ClassVar[tuple[type, ...]] = (_STANOptions,)
    _options: ClassVar[type[_STANOptions]] = _STANOptions

    def __init__(
        self,
        k: int = 500,
        sample_size: int = 5000,
        lambda_spw: float | None = 1.02,
        lambda_snh: float | None = 5.0,
        lambda_inh: float | None = 2.05,
    ) -> None:
        self._set_options(
            k=k,
            sample_size=sample_size,
            lambda_spw=lambda_spw,
            lambda_snh=lambda_snh,
            lambda_inh=lambda_inh,
        )

    def _set_options(self, **options: Any) -> None:
        checked = self._options.check(self.name, **options).model_dump()
        similarity = "dot" if checked.get("similarity") == "vec" else "cosine"
        super().__init__(
            checked["k"],
            checked["sample_size"],
            similarity=similarity,
            weighting="same",
            weighting_score="same",
            position_lambda=checked["lambda_inh"],
            idf_weighting=0.0,
        )
        vars(self).update(checked)
        self._has_times = False

    def fit(self, train: pd.DataFrame, validation_pairs: pd.DataFrame | None = None) -> STAN:
        """As :meth:`SessionKNN.fit`; the ``timestamp`` column dates the neighbours."""
        self._has_times = train is not None and "timestamp" in train.columns
        if not self._has_times and self.lambda_snh is not None:
            log.warning(
                "%s: the training sessions have no timestamp column, so lambda_snh (the "
                "neighbours' recency) is off; sessions later in the table count as newer.",
                self.name,
            )
        return super().fit(train, validation_pairs)

    def _position_weights(self, position: np.ndarray, length: np.ndarray) -> np.ndarray:
        if self.lambda_spw is None:
            return np.ones_like(position)
        return np.exp((position - length) / self.lambda_spw)

    def _recency_weights(self, last_seen: np.ndarray) -> np.ndarray | None:
        if self.lambda_snh is None or not self._has_times or not len(last_seen):
            return None
        age_days = (last_seen.max() - last_seen) / _NS_PER_DAY
        return np.exp(-age_days / self.lambda_snh)

    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._options.model_fields}


class VSTAN(STAN):
    """STAN with V-SKNN's sequential and idf weighting (see the module docstring)."""

    name: ClassVar[str] = "vstan"
    search_settings: ClassVar[tuple[type, ...]] = (_VSTANOptions,)
    _options: ClassVar[type[_STANOptions]] = _VSTANOptions

    def __init__(
        self,
        k: int = 500,
        sample_size: int = 5000,
        lambda_spw: float | None = 1.02,
        lambda_snh: float | None = 5.0,
        lambda_inh: float | None = 2.05,
        *,
        similarity: str = "cosine",
        lambda_ipw: float | None = 1.02,
        lambda_idf: float | None = 5.0,
    ) -> None:
        self._set_options(
            k=k,
            sample_size=sample_size,
            lambda_spw=lambda_spw,
            lambda_snh=lambda_snh,
            lambda_inh=lambda_inh,
            similarity=similarity,
            lambda_ipw=lambda_ipw,
            lambda_idf=lambda_idf,
        )

    def _weighs_steps(self) -> bool:
        return self.lambda_ipw is not None

    def _step_weights(self, step: np.ndarray) -> np.ndarray:
        return np.exp(-(step - 1.0) / self.lambda_ipw)

    def _idf_weights(self, idf: np.ndarray) -> np.ndarray:
        if self.lambda_idf is None:
            return np.ones_like(idf)
        return 1.0 + self.lambda_idf * idf
