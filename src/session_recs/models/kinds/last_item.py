"""Last items repeated: a query's own recent items, the most recent first (a repeat baseline)."""

from __future__ import annotations

from typing import ClassVar

import scipy.sparse as sp
from pydantic import Field

from session_recs.core.config import Settings
from session_recs.models.base import QueryBatch, Recommender, SessionData, context_weights


class LastItemOptions(Settings):
    """Every option of :class:`LastItems`."""

    window: int = Field(5, ge=1)
    decay: float = Field(0.5, gt=0, le=1)


class LastItems(Recommender):
    """Scores the session's last ``window`` known items, ``decay ** steps_back`` each."""

    name: ClassVar[str] = "last_item"
    uses_context: ClassVar[bool] = True
    Options: ClassVar[type[Settings]] = LastItemOptions
    search_settings: ClassVar[tuple[type, ...]] = (LastItemOptions,)
    options: LastItemOptions

    def _fit(self, sessions: SessionData) -> None:
        pass

    def candidates(self, queries: QueryBatch) -> sp.csr_matrix:
        n_items = len(self.fitted_index())
        return context_weights(queries, n_items, self.options.window, self.options.decay)
