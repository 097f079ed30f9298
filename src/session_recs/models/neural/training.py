"""The neural models' shared part: the training loop, per-epoch monitoring, batched
inference and the options every neural model takes. Needs the ``neural`` extra (torch).

See :mod:`session_recs.models.neural` for the models.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn

from session_recs.core.config import Settings
from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.core.progress import bar_label, progress_bar
from session_recs.core.tables import to_frame
from session_recs.models.base import (
    NOT_GIVEN,
    QueryBatch,
    Recommender,
    SessionData,
    preset_or_options,
)
from session_recs.models.queries import hit_metrics, validation_set
from session_recs.models.sparse import ranges

EpochCallback = Callable[[Mapping[str, float]], None]
#: Queries the network reads at once while scoring (its activations: chunk x max_len x width).
ENCODE_CHUNK = 1024

logger = logging.getLogger(__name__)

#: What the neural models are meant for on a CPU: about 10^4 training events a second per
#: epoch on 2 cores (docs/models.md), so 10^6 events take minutes an epoch, 10^7 hours.
MEANT_FOR_EVENTS = 10**6


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run a block with ``threads`` intra-op threads, restoring the process's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class PopularitySampler:
    """Negative items drawn with probability popularity ** ``alpha`` (0: uniform)."""

    def __init__(self, popularity: np.ndarray, alpha: float, rng: np.random.Generator) -> None:
        weights = np.power(np.maximum(popularity, 0.0), alpha)
        self.probability = weights / weights.sum()
        self._cdf = np.cumsum(self.probability)
        self._cdf[-1] = 1.0
        self._rng = rng

    def draw(self, n: int) -> np.ndarray:
        return np.searchsorted(self._cdf, self._rng.random(n), side="right").astype(np.int64)


class _Training(Settings):
    """How a neural model trains: what its presets set (None given: the preset's)."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    n_sample: int = Field(2048, ge=0)
    sample_alpha: float = Field(0.5, ge=0, le=1)
    logq: float = Field(0.0, ge=0)
    max_len: int = Field(50, ge=1)


class NeuralRunOptions(Settings):
    """What every run sets whatever the preset: the seed, threads and the validation."""

    seed: int = 0
    workers: int = Field(1, ge=1)
    validation_k: int = Field(10, ge=1)
    validation_context: Literal["session", "last_item"] = "session"
    validation_exclude_query: bool = True


class _Preset(Settings):
    #: A name in the model's ``PRESETS``, whose values fill the options not given.
    preset: str | None = None


class NeuralOptions(NeuralRunOptions, _Training, _Preset):
    """Options every neural model shares; a model's ``Options`` adds its network's and
    the default ``preset``."""


def _from_preset(name: str) -> bool:
    """Whether a preset sets option ``name`` (None given for it means 'the preset's')."""
    return name != "preset" and name not in NeuralRunOptions.model_fields


class NeuralRecommender(Recommender):
    """Shared training loop, monitoring and batched inference of the PyTorch models.

    Subclasses define ``Options`` (a :class:`Settings` with every option and its range),
    ``PRESETS`` and the network: :meth:`_build`, :meth:`_train_epoch` and :meth:`_encode`
    (query sequences → the vectors scored against the output embeddings).
    """

    dense_scores: ClassVar[bool] = True
    uses_context: ClassVar[bool] = True
    training_resource: ClassVar[str | None] = "epochs"
    monitors_validation: ClassVar[bool] = True
    #: Callbacks (a Ray reporter) and the training table belong to the fit, not the model.
    transient: ClassVar[Mapping[str, Any]] = {
        **Recommender.transient,
        "callbacks": (),
        "_train_table": None,
    }
    Options: ClassVar[type[Settings]] = NeuralOptions
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    run_arguments: ClassVar[tuple[str, ...]] = ("callbacks", "progress")
    options: NeuralOptions

    def __init__(
        self,
        options: Any = NOT_GIVEN,
        /,
        *,
        callbacks: Sequence[EpochCallback] = (),
        progress: bool = True,
        **values: Any,
    ) -> None:
        options, values = preset_or_options(options, values)
        if options is None:
            preset = values.get("preset", self.Options.model_fields["preset"].default)
            if preset is not None and preset not in self.PRESETS:
                raise ConfigError(
                    f"{self.name}: unknown preset {preset!r}; valid presets: "
                    f"{sorted(self.PRESETS)}."
                )
            given = {k: v for k, v in values.items() if v is not None or not _from_preset(k)}
            values = {**self.PRESETS.get(preset or "", {}), **given}
        super().__init__(options, **values)
        self.callbacks = tuple(callbacks)
        self.progress = progress
        self.history = pd.DataFrame(columns=self._history_columns())
        self.train_seconds = 0.0
        self.network: nn.Module | None = None
        self._train_table: pd.DataFrame | None = None

    @classmethod
    def given_options(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """As :meth:`Recommender.given_options`; an option a preset sets is None (the
        preset's) unless given."""
        return {
            name: given.get(name, None if _from_preset(name) else field.default)
            for name, field in cls.Options.model_fields.items()
        }

    def _history_columns(self) -> list[str]:
        k = self.options.validation_k
        return ["epoch", "loss", "seconds", f"recall@{k}", f"mrr@{k}", "eval_seconds"]

    def fit(self, train: pd.DataFrame, validation_pairs: pd.DataFrame | None = None) -> Self:
        train = to_frame(train)  # an engine's table: read into memory
        self._train_table = train  # the validation queries' sessions so far
        try:
            return super().fit(train, validation_pairs)
        finally:
            self._train_table = None

    def _fit(self, sessions: SessionData) -> None:
        trainable = sessions.lengths >= 2
        if not trainable.any():
            raise DataValidationError(
                f"{self.name}: no training session has two or more items, so there is no "
                "next item to learn; check the split outputs (train_sessions)."
            )
        events = int(sessions.lengths[trainable].sum())
        epochs = self.options.epochs
        logger.info(
            "%s trains on CPU: %s events of %s sessions, %s items, %d epochs (the neural "
            "models are meant for up to about %s training events: about 10^4 a second per "
            "epoch on 2 cores)%s",
            self.name,
            f"{events:,}",
            f"{int(trainable.sum()):,}",
            f"{len(self.fitted_index()):,}",
            epochs,
            f"{MEANT_FOR_EVENTS:,}",
            "; this is more, expect hours" if events > MEANT_FOR_EVENTS else ".",
        )
        rng = np.random.default_rng(self.options.seed)
        validation = self._validation_set()
        records: list[dict[str, float]] = []
        started = time.perf_counter()
        with torch_threads(self.options.workers), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.options.seed)
            self.network = self._build(len(self.fitted_index()))
            optimiser = self._optimiser(self.network)
            sampler = PopularitySampler(self.fitted_popularity(), self.options.sample_alpha, rng)
            bar = progress_bar(self.options.epochs, bar_label(self.name), disable=not self.progress)
            try:
                for epoch in range(1, self.options.epochs + 1):
                    epoch_started, cpu_started = time.perf_counter(), time.process_time()
                    self.network.train()
                    loss = self._train_epoch(sessions, trainable, optimiser, sampler, rng)
                    record = {
                        "epoch": epoch,
                        "loss": loss,
                        "seconds": time.perf_counter() - epoch_started,
                        # Not in the history: the tune trials report it (all threads).
                        "cpu_seconds": time.process_time() - cpu_started,
                    }
                    record.update(self._validate(validation))
                    records.append(record)
                    if epoch == 1 and epochs > 1:
                        took = time.perf_counter() - epoch_started
                        logger.info(
                            "%s: epoch 1 of %d took %.1f s; all %d take about %.0f s.",
                            self.name,
                            epochs,
                            took,
                            epochs,
                            took * epochs,
                        )
                    self.history = pd.DataFrame(records, columns=self._history_columns())
                    bar.set_postfix(self._postfix(record), refresh=False)
                    bar.update(1)
                    for callback in self.callbacks:
                        callback(record)
            finally:
                bar.close()
                self.network.eval()
        self.train_seconds = time.perf_counter() - started

    def _postfix(self, record: Mapping[str, float]) -> dict[str, str]:
        shown = {"loss": f"{record['loss']:.4f}"}
        recall = record[f"recall@{self.options.validation_k}"]
        if not math.isnan(recall):
            shown[f"recall@{self.options.validation_k}"] = f"{recall:.4f}"
        return shown

    def _validation_set(self) -> Any:
        pairs = self.validation_pairs
        if pairs is None or not len(pairs) or self._train_table is None:
            return None
        return validation_set(
            self.fitted_index(), pairs, self._train_table, self.options.validation_context
        )

    def _validate(self, validation: Any) -> dict[str, float]:
        k = self.options.validation_k
        if validation is None:
            return {f"recall@{k}": math.nan, f"mrr@{k}": math.nan, "eval_seconds": 0.0}
        started = time.perf_counter()
        metrics = hit_metrics(
            self, validation, k, exclude_query=self.options.validation_exclude_query
        )
        return {
            f"recall@{k}": metrics["recall"],
            f"mrr@{k}": metrics["mrr"],
            "eval_seconds": time.perf_counter() - started,
        }

    # -- inference -----------------------------------------------------------------------

    def context_sequences(self, queries: QueryBatch) -> tuple[np.ndarray, np.ndarray]:
        """Each query's last ``max_len`` known items, left-aligned in a (queries x longest)
        matrix padded with -1, and their counts (0: no known item)."""
        context = queries.context
        known = context.items >= 0
        # Known items before each position, to keep the last max_len known ones per query.
        before = np.r_[0, np.cumsum(known)]
        counts = before[context.stops] - before[context.starts]
        lengths = np.minimum(counts, self.options.max_len)
        width = max(int(lengths.max(initial=0)), 1)
        sequences = np.full((len(queries), width), -1, dtype=np.int64)
        positions = np.flatnonzero(known)
        # The j-th kept item of query q is known item number (stop count - length + j).
        first = before[context.stops] - lengths
        rows = np.repeat(np.arange(len(queries)), lengths)
        order = np.repeat(first, lengths) + ranges(lengths)
        sequences[rows, ranges(lengths)] = context.items[positions[order]]
        return sequences, lengths

    def score(self, queries: QueryBatch) -> np.ndarray:
        """Every item's logit, shifted so the lowest is 1; 0 for queries with no known item."""
        self.fitted_index()
        sequences, lengths = self.context_sequences(queries)
        scores = np.zeros((len(queries), len(self.fitted_index())), dtype=np.float64)
        answered = np.flatnonzero(lengths > 0)
        if not len(answered):
            return scores
        network = self.fitted_network()
        with torch_threads(self.options.workers), torch.inference_mode():
            network.eval()
            # The network's activations grow with queries x max_len: a bounded chunk at once.
            for at in range(0, len(answered), ENCODE_CHUNK):
                rows = answered[at : at + ENCODE_CHUNK]
                width = max(int(lengths[rows].max()), 1)
                vectors = self._encode(
                    torch.from_numpy(sequences[rows, :width]), torch.from_numpy(lengths[rows])
                )
                logits = self._logits(vectors).double().numpy()
                scores[rows] = logits - logits.min(axis=1, keepdims=True) + 1.0
        return scores

    def params(self) -> dict[str, Any]:
        options = self.options.model_dump()
        return {"preset": options.pop("preset"), **options}

    def fitted_network(self) -> Any:
        """The network of a fitted model; a ConfigError before ``fit``."""
        if self.network is None:
            raise ConfigError(f"{self.name} is not fitted yet: call fit(train_sessions) first.")
        return self.network

    # -- what each network defines ------------------------------------------------------

    def _build(self, n_items: int) -> nn.Module:
        raise NotImplementedError

    def _optimiser(self, network: nn.Module) -> torch.optim.Optimizer:
        raise NotImplementedError

    def _train_epoch(
        self,
        sessions: SessionData,
        trainable: np.ndarray,
        optimiser: torch.optim.Optimizer,
        sampler: PopularitySampler,
        rng: np.random.Generator,
    ) -> float:
        """One pass over the training sessions; the mean loss per target."""
        raise NotImplementedError

    def _encode(self, sequences: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(queries x width) item sequences (-1 padded on the right) → query vectors."""
        raise NotImplementedError

    def _logits(self, vectors: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _export_state(self) -> dict[str, Any]:
        """The network as its ``state_dict``'s tensors, as numpy arrays (no torch pickle)."""
        state = super()._export_state()
        if self.network is not None:
            weights = self.network.state_dict()
            state["network"] = {name: t.detach().cpu().numpy() for name, t in weights.items()}
        return state

    def _restore_state(self, state: dict[str, Any]) -> None:
        """The network built again for the index's items, with the saved weights."""
        weights = state.pop("network", None)
        super()._restore_state(state)
        self.network = None
        if weights is not None:
            self.network = self._build(len(self.fitted_index()))
            self.network.load_state_dict(
                {name: torch.from_numpy(np.array(array)) for name, array in weights.items()}
            )
            self.network.eval()
