"""GRU4Rec (Hidasi et al.) on session-parallel mini-batches: see
:mod:`session_recs.models.neural`."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from session_recs.core.config import Settings
from session_recs.models.neural.training import (
    NeuralOptions,
    NeuralRecommender,
)


class GRU4RecOptions(NeuralOptions):
    """Every option of :class:`GRU4Rec` (the module docstring of
    :mod:`session_recs.models.neural` says what each does)."""

    preset: str | None = "official"
    layers: int = Field(100, ge=1)
    loss: Literal["cross-entropy", "bpr-max"] = "cross-entropy"
    dropout_p_embed: float = Field(0.0, ge=0, lt=1)
    dropout_p_hidden: float = Field(0.0, ge=0, lt=1)
    embedding: int = Field(0, ge=0)
    constrained_embedding: bool = True
    bpreg: float = Field(1.0, ge=0)
    elu_param: float = Field(0.5, ge=0)


class _GRU4RecNet(nn.Module):
    def __init__(self, n_items: int, options: GRU4RecOptions) -> None:
        super().__init__()
        hidden = options.layers
        self.constrained = options.constrained_embedding
        width = hidden if self.constrained else (options.embedding or hidden)
        self.output = nn.Parameter(_glorot(n_items, hidden))
        self.bias = nn.Parameter(torch.zeros(n_items))
        self.embedding = None if self.constrained else nn.Parameter(_glorot(n_items, width))
        self.cell = nn.GRUCell(width, hidden)
        for weight in (self.cell.weight_ih, self.cell.weight_hh):
            nn.init.uniform_(weight, -_glorot_bound(*weight.shape), _glorot_bound(*weight.shape))
        nn.init.zeros_(self.cell.bias_ih)
        nn.init.zeros_(self.cell.bias_hh)
        self.drop_embed = nn.Dropout(options.dropout_p_embed)
        self.drop_hidden = nn.Dropout(options.dropout_p_hidden)

    def step(self, items: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        table: Any = self.output if self.constrained else self.embedding
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
    options: GRU4RecOptions
    search_settings: ClassVar[tuple[type, ...]] = (GRU4RecOptions,)
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

    def _build(self, n_items: int) -> nn.Module:
        return _GRU4RecNet(n_items, self.options)

    def _optimiser(self, network: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adagrad(network.parameters(), lr=self.options.learning_rate, eps=1e-6)

    def _train_epoch(self, sessions, trainable, optimiser, sampler, rng) -> float:
        network = self.fitted_network()
        starts = sessions.starts[trainable]
        stops = sessions.stops[trainable]
        items = torch.from_numpy(sessions.items)
        # logQ: in-batch targets come with the data's popularity, samples with its power.
        log_popularity = torch.log(
            torch.from_numpy(self.fitted_popularity() / self.fitted_popularity().sum())
        ).float()
        n_sample = self.options.n_sample
        batch = min(self.options.batch_size, len(starts))
        rows = np.arange(batch)  # which session each row runs through
        position = starts[:batch].copy()
        next_session = batch
        hidden = torch.zeros(batch, self.options.layers)
        total, targets = 0.0, 0
        while len(rows):
            inputs = items[position]
            wanted = items[position + 1]
            hidden = network.step(inputs, hidden.detach())
            negatives = torch.from_numpy(sampler.draw(n_sample)) if n_sample else None
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
        network, options = self.fitted_network(), self.options
        candidates = wanted if negatives is None else torch.cat([wanted, negatives])
        logits = hidden @ network.output[candidates].T + network.bias[candidates]
        if options.logq > 0 and options.loss == "cross-entropy":  # as the official code: XE only
            log_q = log_popularity[candidates]
            if negatives is not None:
                log_q = torch.cat(
                    [log_q[: len(wanted)], options.sample_alpha * log_q[len(wanted) :]]
                )
            logits = logits - options.logq * log_q
        if options.loss == "cross-entropy":
            return nn.functional.cross_entropy(logits, torch.arange(len(wanted)))
        # bpr-max: ELU-transformed scores; softmax over the negatives weights each pair.
        if options.elu_param > 0:
            logits = nn.functional.elu(logits, alpha=options.elu_param)
        positive = logits.diagonal()[:, None]
        negative_mask = torch.ones_like(logits, dtype=torch.bool)
        negative_mask[torch.arange(len(wanted)), torch.arange(len(wanted))] = False
        weights = torch.softmax(logits.masked_fill(~negative_mask, -math.inf), dim=1)
        pairwise = (weights * torch.sigmoid(positive - logits)).sum(dim=1)
        penalty = (weights * logits.pow(2)).sum(dim=1)
        return (-torch.log(pairwise + 1e-24) + options.bpreg * penalty).mean()

    def _encode(self, sequences: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Longest first: at step t the first (lengths > t) rows are still reading.
        order = torch.argsort(lengths, descending=True, stable=True)
        sequences, lengths = sequences[order], lengths[order]
        network = self.fitted_network()
        hidden = torch.zeros(len(sequences), self.options.layers)
        for step in range(int(lengths.max())):
            active = int((lengths > step).sum())
            hidden[:active] = network.step(sequences[:active, step], hidden[:active])
        out = torch.empty_like(hidden)
        out[order] = hidden
        return out

    def _logits(self, vectors: torch.Tensor) -> torch.Tensor:
        network = self.fitted_network()
        return vectors @ network.output.T + network.bias
