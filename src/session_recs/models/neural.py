"""GRU4Rec and SASRec in PyTorch (CPU), behind the one interface. Needs the ``neural`` extra.

- :class:`GRU4Rec` (Hidasi et al., ICLR 2016; Hidasi & Czapp, RecSys 2023): one GRU layer
  over item embeddings, trained on session-parallel mini-batches. Each of ``batch_size``
  rows runs through one session; the row's hidden state is reset when a new session takes
  it over. The loss is ``cross-entropy`` or ``bpr-max`` against sampled negatives: the
  batch's other targets plus ``n_sample`` items drawn by popularity ** ``sample_alpha``,
  with the ``logq`` correction for that sampling. With ``constrained_embedding`` the input
  embedding is the output one. Options keep the official implementation's names, and
  presets are its class defaults (``official``) and its best rsc15 parameter file
  (``yoochoose_xe``). Differences from it: the optimiser is Adagrad without the official
  code's momentum (both presets set it to 0); without ``constrained_embedding`` and with
  ``embedding=0`` the input is a learned item embedding as wide as the layer (the official
  code feeds each item's own input weights to the gates); and an epoch ends when every
  session is used, its last steps on a shrinking batch (the official code stops at the
  first session it cannot replace).
- :class:`SASRec` (Kang & McAuley, ICDM 2018): causal self-attention over the last
  ``max_len`` items with learned positions (pre-norm blocks, as the authors' code), item
  embeddings shared between input and output, Adam, and a cross-entropy over the target
  against ``n_sample`` popularity-sampled negatives shared by the batch (``n_sample=0``:
  every item).

Both train for ``epochs``, the resource the tune pipeline's ASHA cuts short. After each
epoch they record loss, time and validation Recall@K / MRR@K (the evaluator's own metrics
on the validation pairs, with the session so far), show them on a progress bar, and call
each of ``callbacks`` with the record. ``seed`` fixes initialisation, batching, sampling
and dropout; with ``workers=1`` (torch threads) two fits give identical weights and
metrics. A query is answered by running the network over the known items of the session
so far (the last ``max_len``) for a whole block of queries at once, then scoring every
item: scores are the logits shifted to start at 1, so every item is evidence and the
shared dense path ranks them in memory-bounded blocks.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, ValidationInfo, field_validator
from torch import nn
from tqdm.auto import tqdm

from session_recs.core.config import Settings
from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.models.base import QueryBatch, Recommender, SessionData
from session_recs.models.queries import hit_metrics, validation_set
from session_recs.models.sparse import ranges

EpochCallback = Callable[[Mapping[str, float]], None]
#: Queries the network reads at once while scoring (its activations: chunk x max_len x width).
ENCODE_CHUNK = 1024


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
    Options: ClassVar[type[Settings]]
    PRESETS: ClassVar[dict[str, dict[str, Any]]]

    def __init__(
        self,
        preset: str | None,
        options: Mapping[str, Any],
        *,
        seed: int,
        workers: int,
        validation_k: int,
        validation_context: str,
        validation_exclude_query: bool,
        callbacks: Sequence[EpochCallback],
        progress: bool,
    ) -> None:
        super().__init__()
        if preset is not None and preset not in self.PRESETS:
            raise ConfigError(
                f"{self.name}: unknown preset {preset!r}; valid presets: {sorted(self.PRESETS)}."
            )
        given = {k: v for k, v in options.items() if v is not None}
        self.preset = preset
        checked = self.Options.check(
            self.name,
            **{**self.PRESETS.get(preset or "", {}), **given},
            seed=seed,
            workers=workers,
            validation_k=validation_k,
            validation_context=validation_context,
            validation_exclude_query=validation_exclude_query,
        )
        self.options = checked.model_dump()
        vars(self).update(self.options)
        self.callbacks = tuple(callbacks)
        self.progress = progress
        self.history = pd.DataFrame(columns=self._history_columns())
        self.train_seconds = 0.0
        self.network: nn.Module | None = None
        self._train_table: pd.DataFrame | None = None

    def _history_columns(self) -> list[str]:
        k = self.validation_k
        return ["epoch", "loss", "seconds", f"recall@{k}", f"mrr@{k}", "eval_seconds"]

    def fit(self, train: pd.DataFrame, validation_pairs: pd.DataFrame | None = None) -> Recommender:
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
        rng = np.random.default_rng(self.seed)
        validation = self._validation_set()
        records: list[dict[str, float]] = []
        started = time.perf_counter()
        with torch_threads(self.workers), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.network = self._build(len(self.index))
            optimiser = self._optimiser(self.network)
            sampler = PopularitySampler(self.popularity, self.sample_alpha, rng)
            bar = tqdm(total=self.epochs, desc=self.name, unit="epoch", disable=not self.progress)
            try:
                for epoch in range(1, self.epochs + 1):
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
        recall = record[f"recall@{self.validation_k}"]
        if not math.isnan(recall):
            shown[f"recall@{self.validation_k}"] = f"{recall:.4f}"
        return shown

    def _validation_set(self) -> Any:
        pairs = self.validation_pairs
        if pairs is None or not len(pairs) or self._train_table is None:
            return None
        return validation_set(self.index, pairs, self._train_table, self.validation_context)

    def _validate(self, validation: Any) -> dict[str, float]:
        k = self.validation_k
        if validation is None:
            return {f"recall@{k}": math.nan, f"mrr@{k}": math.nan, "eval_seconds": 0.0}
        started = time.perf_counter()
        metrics = hit_metrics(self, validation, k, exclude_query=self.validation_exclude_query)
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
        lengths = np.minimum(counts, self.max_len)
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
        scores = np.zeros((len(queries), len(self.index)), dtype=np.float64)
        answered = np.flatnonzero(lengths > 0)
        if not len(answered):
            return scores
        with torch_threads(self.workers), torch.inference_mode():
            self.network.eval()
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
        return {"preset": self.preset, **self.options}

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
            self.network = self._build(len(self.index))
            self.network.load_state_dict(
                {name: torch.from_numpy(np.array(array)) for name, array in weights.items()}
            )
            self.network.eval()


#: Constructor arguments that are not network options (the shared ones, set apart).
_SHARED_ARGUMENTS = (
    "self",
    "__class__",
    "preset",
    "seed",
    "workers",
    "validation_k",
    "validation_context",
    "validation_exclude_query",
    "callbacks",
    "progress",
)


def _network_options(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A subclass constructor's own options (its ``locals()``), None meaning 'the preset's'."""
    return {k: v for k, v in arguments.items() if k not in _SHARED_ARGUMENTS}


class _Monitoring(Settings):
    """Options every neural model shares."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    n_sample: int = Field(2048, ge=0)
    sample_alpha: float = Field(0.5, ge=0, le=1)
    logq: float = Field(0.0, ge=0)
    max_len: int = Field(50, ge=1)
    seed: int = 0
    workers: int = Field(1, ge=1)
    validation_k: int = Field(10, ge=1)
    validation_context: Literal["session", "last_item"] = "session"
    validation_exclude_query: bool = True


# ---------------------------------------------------------------------------------------
# GRU4Rec


class GRU4RecOptions(_Monitoring):
    layers: int = Field(100, ge=1)
    loss: Literal["cross-entropy", "bpr-max"] = "cross-entropy"
    dropout_p_embed: float = Field(0.0, ge=0, lt=1)
    dropout_p_hidden: float = Field(0.0, ge=0, lt=1)
    embedding: int = Field(0, ge=0)
    constrained_embedding: bool = True
    bpreg: float = Field(1.0, ge=0)
    elu_param: float = Field(0.5, ge=0)


class _GRU4RecNet(nn.Module):
    def __init__(self, n_items: int, options: Mapping[str, Any]) -> None:
        super().__init__()
        hidden = options["layers"]
        self.constrained = options["constrained_embedding"]
        width = hidden if self.constrained else (options["embedding"] or hidden)
        self.output = nn.Parameter(_glorot(n_items, hidden))
        self.bias = nn.Parameter(torch.zeros(n_items))
        self.embedding = None if self.constrained else nn.Parameter(_glorot(n_items, width))
        self.cell = nn.GRUCell(width, hidden)
        for weight in (self.cell.weight_ih, self.cell.weight_hh):
            nn.init.uniform_(weight, -_glorot_bound(*weight.shape), _glorot_bound(*weight.shape))
        nn.init.zeros_(self.cell.bias_ih)
        nn.init.zeros_(self.cell.bias_hh)
        self.drop_embed = nn.Dropout(options["dropout_p_embed"])
        self.drop_hidden = nn.Dropout(options["dropout_p_hidden"])

    def step(self, items: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        table = self.output if self.constrained else self.embedding
        return self.cell(self.drop_embed(table[items]), hidden)


def _glorot_bound(rows: int, cols: int) -> float:
    return math.sqrt(6.0 / (rows + cols))


def _glorot(rows: int, cols: int) -> torch.Tensor:
    bound = _glorot_bound(rows, cols)
    return torch.empty(rows, cols).uniform_(-bound, bound)


class GRU4Rec(NeuralRecommender):
    """GRU4Rec on session-parallel mini-batches (see the module docstring)."""

    name: ClassVar[str] = "gru4rec"
    Options: ClassVar[type[Settings]] = GRU4RecOptions
    #: ``official``: the official implementation's class defaults; ``yoochoose_xe``: its
    #: best cross-entropy parameter file for RecSys15 (yoochoose).
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "official": {},
        "yoochoose_xe": {
            "loss": "cross-entropy",
            "constrained_embedding": True,
            "embedding": 0,
            "elu_param": 0.0,
            "layers": 480,
            "epochs": 10,
            "batch_size": 48,
            "dropout_p_embed": 0.0,
            "dropout_p_hidden": 0.2,
            "learning_rate": 0.07,
            "n_sample": 2048,
            "sample_alpha": 0.2,
            "bpreg": 0.0,
            "logq": 1.0,
        },
    }

    def __init__(
        self,
        preset: str | None = "official",
        *,
        layers: int | None = None,
        loss: str | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        dropout_p_embed: float | None = None,
        dropout_p_hidden: float | None = None,
        embedding: int | None = None,
        constrained_embedding: bool | None = None,
        n_sample: int | None = None,
        sample_alpha: float | None = None,
        logq: float | None = None,
        bpreg: float | None = None,
        elu_param: float | None = None,
        max_len: int | None = None,
        seed: int = 0,
        workers: int = 1,
        validation_k: int = 10,
        validation_context: str = "session",
        validation_exclude_query: bool = True,
        callbacks: Sequence[EpochCallback] = (),
        progress: bool = True,
    ) -> None:
        super().__init__(
            preset,
            _network_options(locals()),
            seed=seed,
            workers=workers,
            validation_k=validation_k,
            validation_context=validation_context,
            validation_exclude_query=validation_exclude_query,
            callbacks=callbacks,
            progress=progress,
        )

    def _build(self, n_items: int) -> nn.Module:
        return _GRU4RecNet(n_items, self.options)

    def _optimiser(self, network: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adagrad(network.parameters(), lr=self.learning_rate, eps=1e-6)

    def _train_epoch(self, sessions, trainable, optimiser, sampler, rng) -> float:
        network = self.network
        starts = sessions.starts[trainable]
        stops = sessions.stops[trainable]
        items = torch.from_numpy(sessions.items)
        # logQ: in-batch targets come with the data's popularity, samples with its power.
        log_popularity = torch.log(
            torch.from_numpy(self.popularity / self.popularity.sum())
        ).float()
        batch = min(self.batch_size, len(starts))
        rows = np.arange(batch)  # which session each row runs through
        position = starts[:batch].copy()
        next_session = batch
        hidden = torch.zeros(batch, self.layers)
        total, targets = 0.0, 0
        while len(rows):
            inputs = items[position]
            wanted = items[position + 1]
            hidden = network.step(inputs, hidden.detach())
            negatives = torch.from_numpy(sampler.draw(self.n_sample)) if self.n_sample else None
            if negatives is not None or len(rows) > 1:  # else nothing to rank the target against
                loss = self._loss(network.drop_hidden(hidden), wanted, negatives, log_popularity)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(rows)
                targets += len(rows)
            position += 1
            # A row whose session has no next target takes the next session, from scratch.
            done = np.flatnonzero(position + 1 >= stops[rows])
            if len(done):
                hidden = hidden.detach().clone()
                refill = done[: max(0, len(starts) - next_session)]
                new = np.arange(next_session, next_session + len(refill))
                next_session += len(refill)
                rows[refill] = new
                position[refill] = starts[new]
                hidden[torch.from_numpy(refill)] = 0.0
                gone = done[len(refill) :]
                if len(gone):
                    keep = np.setdiff1d(np.arange(len(rows)), gone)
                    rows, position = rows[keep], position[keep]
                    hidden = hidden[torch.from_numpy(keep)]
        return total / max(targets, 1)

    def _loss(self, hidden, wanted, negatives, log_popularity) -> torch.Tensor:
        """Loss of the batch's targets (the diagonal) against the other targets + samples."""
        network = self.network
        candidates = wanted if negatives is None else torch.cat([wanted, negatives])
        logits = hidden @ network.output[candidates].T + network.bias[candidates]
        if self.logq > 0 and self.loss == "cross-entropy":  # as the official code: XE only
            log_q = log_popularity[candidates]
            if negatives is not None:
                log_q = torch.cat([log_q[: len(wanted)], self.sample_alpha * log_q[len(wanted) :]])
            logits = logits - self.logq * log_q
        if self.loss == "cross-entropy":
            return nn.functional.cross_entropy(logits, torch.arange(len(wanted)))
        # bpr-max: ELU-transformed scores; softmax over the negatives weights each pair.
        if self.elu_param > 0:
            logits = nn.functional.elu(logits, alpha=self.elu_param)
        positive = logits.diagonal()[:, None]
        negative_mask = torch.ones_like(logits, dtype=torch.bool)
        negative_mask[torch.arange(len(wanted)), torch.arange(len(wanted))] = False
        weights = torch.softmax(logits.masked_fill(~negative_mask, -math.inf), dim=1)
        pairwise = (weights * torch.sigmoid(positive - logits)).sum(dim=1)
        penalty = (weights * logits.pow(2)).sum(dim=1)
        return (-torch.log(pairwise + 1e-24) + self.bpreg * penalty).mean()

    def _encode(self, sequences: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Longest first: at step t the first (lengths > t) rows are still reading.
        order = torch.argsort(lengths, descending=True, stable=True)
        sequences, lengths = sequences[order], lengths[order]
        hidden = torch.zeros(len(sequences), self.layers)
        for step in range(int(lengths.max())):
            active = int((lengths > step).sum())
            hidden[:active] = self.network.step(sequences[:active, step], hidden[:active])
        out = torch.empty_like(hidden)
        out[order] = hidden
        return out

    def _logits(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors @ self.network.output.T + self.network.bias


# ---------------------------------------------------------------------------------------
# SASRec


class SASRecOptions(_Monitoring):
    hidden_units: int = Field(50, ge=1)
    num_blocks: int = Field(2, ge=1)
    num_heads: int = Field(1, ge=1)
    dropout_rate: float = Field(0.2, ge=0, lt=1)
    l2_emb: float = Field(0.0, ge=0)

    @field_validator("num_heads")
    @classmethod
    def _heads_divide_units(cls, heads: int, info: ValidationInfo) -> int:
        units = info.data.get("hidden_units")
        if units is not None and units % heads:
            raise ValueError(f"expected a divisor of hidden_units ({units})")
        return heads

    # The paper's training settings (the shared defaults are GRU4Rec's).
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(0.001, gt=0)
    n_sample: int = Field(1024, ge=0)
    logq: float = Field(1.0, ge=0)


class _SASRecNet(nn.Module):
    def __init__(self, n_items: int, options: Mapping[str, Any]) -> None:
        super().__init__()
        units = options["hidden_units"]
        self.units = units
        # Row 0 is padding; item i is row i + 1.
        self.items = nn.Embedding(n_items + 1, units, padding_idx=0)
        nn.init.xavier_uniform_(self.items.weight[1:])
        self.positions = nn.Embedding(options["max_len"], units)
        self.dropout = nn.Dropout(options["dropout_rate"])
        layer = nn.TransformerEncoderLayer(
            units,
            options["num_heads"],
            dim_feedforward=units,
            dropout=options["dropout_rate"],
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(
            layer, options["num_blocks"], enable_nested_tensor=False
        )
        self.norm = nn.LayerNorm(units)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """(batch x width) item indices, -1 padded on the right → (batch x width x units)."""
        width = sequences.shape[1]
        present = sequences >= 0
        x = self.items(sequences + 1) * math.sqrt(self.units)
        x = self.dropout(x + self.positions(torch.arange(width))[None])
        x = x * present[..., None]
        causal = torch.triu(torch.ones(width, width, dtype=torch.bool), diagonal=1)
        return self.norm(self.blocks(x, mask=causal))

    def item_vectors(self) -> torch.Tensor:
        return self.items.weight[1:]


class SASRec(NeuralRecommender):
    """SASRec: causal self-attention over the session so far (see the module docstring)."""

    name: ClassVar[str] = "sasrec"
    Options: ClassVar[type[Settings]] = SASRecOptions
    #: ``paper`` (the option defaults): Kang & McAuley's settings (50 units, 2 blocks,
    #: 1 head, dropout 0.2, Adam at 0.001, batch 128, 50 positions), trained for 20 epochs
    #: of the sampled cross-entropy (1,024 negatives, popularity ** 0.5, logQ-corrected).
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}}

    def __init__(
        self,
        preset: str | None = "paper",
        *,
        hidden_units: int | None = None,
        num_blocks: int | None = None,
        num_heads: int | None = None,
        dropout_rate: float | None = None,
        l2_emb: float | None = None,
        max_len: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        n_sample: int | None = None,
        sample_alpha: float | None = None,
        logq: float | None = None,
        seed: int = 0,
        workers: int = 1,
        validation_k: int = 10,
        validation_context: str = "session",
        validation_exclude_query: bool = True,
        callbacks: Sequence[EpochCallback] = (),
        progress: bool = True,
    ) -> None:
        super().__init__(
            preset,
            _network_options(locals()),
            seed=seed,
            workers=workers,
            validation_k=validation_k,
            validation_context=validation_context,
            validation_exclude_query=validation_exclude_query,
            callbacks=callbacks,
            progress=progress,
        )

    def _build(self, n_items: int) -> nn.Module:
        return _SASRecNet(n_items, self.options)

    def _optimiser(self, network: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(network.parameters(), lr=self.learning_rate, betas=(0.9, 0.98))

    def _windows(self, sessions: SessionData, trainable: np.ndarray) -> tuple[np.ndarray, ...]:
        """Training windows: each session cut from its end into pieces of max_len + 1 items
        that overlap by one (every next item is a target once)."""
        starts, stops = sessions.starts[trainable], sessions.stops[trainable]
        step = self.max_len
        pieces = np.maximum(1, -(-(stops - starts - 1) // step))
        ends = np.repeat(stops, pieces) - ranges(pieces) * step
        begins = np.maximum(np.repeat(starts, pieces), ends - step - 1)
        return begins, ends

    def _train_epoch(self, sessions, trainable, optimiser, sampler, rng) -> float:
        network = self.network
        begins, ends = self._windows(sessions, trainable)
        # Batches of similar length (less padding), in a random order.
        order = rng.permutation(len(begins))
        chunk = self.batch_size * 32
        order = np.concatenate(
            [
                part[np.argsort(ends[part] - begins[part], kind="stable")]
                for part in np.array_split(order, max(1, -(-len(order) // chunk)))
            ]
        )
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        total, targets = 0.0, 0
        for at in rng.permutation(len(batches)):
            windows = batches[at]
            lengths = ends[windows] - begins[windows]
            width = int(lengths.max()) - 1
            sequence = np.full((len(windows), width + 1), -1, dtype=np.int64)
            rows = np.repeat(np.arange(len(windows)), lengths)
            sequence[rows, ranges(lengths)] = sessions.items[
                np.repeat(begins[windows], lengths) + ranges(lengths)
            ]
            inputs, wanted = torch.from_numpy(sequence[:, :-1]), torch.from_numpy(sequence[:, 1:])
            hidden = network(inputs)[wanted >= 0]
            wanted = wanted[wanted >= 0]
            loss = self._loss(hidden, wanted, sampler)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(wanted)
            targets += len(wanted)
        return total / max(targets, 1)

    def _loss(self, hidden, wanted, sampler) -> torch.Tensor:
        items = self.network.item_vectors()
        if not self.n_sample:
            logits = hidden @ items.T
            loss = nn.functional.cross_entropy(logits, wanted)
        else:
            negatives = torch.from_numpy(sampler.draw(self.n_sample))
            positive = (hidden * items[wanted]).sum(dim=1, keepdim=True)
            negative = hidden @ items[negatives].T
            if self.logq > 0:  # sampled softmax: each logit minus log(expected draws)
                expected = torch.from_numpy(sampler.probability).float() * self.n_sample
                positive = positive - self.logq * torch.log(expected[wanted])[:, None]
                negative = negative - self.logq * torch.log(expected[negatives])[None, :]
            negative = negative.masked_fill(negatives[None, :] == wanted[:, None], -math.inf)
            logits = torch.cat([positive, negative], dim=1)
            loss = nn.functional.cross_entropy(logits, torch.zeros(len(wanted), dtype=torch.long))
        if self.l2_emb > 0:
            loss = loss + self.l2_emb * items.pow(2).sum() / len(items)
        return loss

    def _encode(self, sequences: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs = self.network(sequences)
        return outputs[torch.arange(len(sequences)), lengths - 1]

    def _logits(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors @ self.network.item_vectors().T


GRU4Rec.search_settings = (GRU4RecOptions,)
SASRec.search_settings = (SASRecOptions,)
