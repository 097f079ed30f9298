"""SASRec (Kang & McAuley): see :mod:`session_recs.models.neural`."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator
from torch import nn

from session_recs.core.config import Settings
from session_recs.models.base import SessionData
from session_recs.models.neural.training import (
    NeuralOptions,
    NeuralRecommender,
)
from session_recs.models.sparse import ranges


class SASRecOptions(NeuralOptions):
    """Every option of :class:`SASRec` (the module docstring of
    :mod:`session_recs.models.neural` says what each does)."""

    preset: str | None = "paper"
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
    def __init__(self, n_items: int, options: SASRecOptions) -> None:
        super().__init__()
        units = options.hidden_units
        self.units = units
        # Row 0 is padding; item i is row i + 1.
        self.items = nn.Embedding(n_items + 1, units, padding_idx=0)
        nn.init.xavier_uniform_(self.items.weight[1:])
        self.positions = nn.Embedding(options.max_len, units)
        self.dropout = nn.Dropout(options.dropout_rate)
        layer = nn.TransformerEncoderLayer(
            units,
            options.num_heads,
            dim_feedforward=units,
            dropout=options.dropout_rate,
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, options.num_blocks, enable_nested_tensor=False)
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
    options: SASRecOptions
    search_settings: ClassVar[tuple[type, ...]] = (SASRecOptions,)
    #: ``paper`` (the option defaults): Kang & McAuley's settings (50 units, 2 blocks,
    #: 1 head, dropout 0.2, Adam at 0.001, batch 128, 50 positions), trained for 20 epochs
    #: of the sampled cross-entropy (1,024 negatives, popularity ** 0.5, logQ-corrected).
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}}

    def _build(self, n_items: int) -> nn.Module:
        return _SASRecNet(n_items, self.options)

    def _optimiser(self, network: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            network.parameters(), lr=self.options.learning_rate, betas=(0.9, 0.98)
        )

    def _windows(self, sessions: SessionData, trainable: np.ndarray) -> tuple[np.ndarray, ...]:
        """Training windows: each session cut from its end into pieces of max_len + 1 items
        that overlap by one (every next item is a target once)."""
        starts, stops = sessions.starts[trainable], sessions.stops[trainable]
        step = self.options.max_len
        pieces = np.maximum(1, -(-(stops - starts - 1) // step))
        ends = np.repeat(stops, pieces) - ranges(pieces) * step
        begins = np.maximum(np.repeat(starts, pieces), ends - step - 1)
        return begins, ends

    def _train_epoch(self, sessions, trainable, optimiser, sampler, rng) -> float:
        network = self.fitted_network()
        begins, ends = self._windows(sessions, trainable)
        # Batches of similar length (less padding), in a random order.
        order = rng.permutation(len(begins))
        chunk = self.options.batch_size * 32
        order = np.concatenate(
            [
                part[np.argsort(ends[part] - begins[part], kind="stable")]
                for part in np.array_split(order, max(1, -(-len(order) // chunk)))
            ]
        )
        batches = [
            order[i : i + self.options.batch_size]
            for i in range(0, len(order), self.options.batch_size)
        ]
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
        items = self.fitted_network().item_vectors()
        options = self.options
        if not options.n_sample:
            logits = hidden @ items.T
            loss = nn.functional.cross_entropy(logits, wanted)
        else:
            negatives = torch.from_numpy(sampler.draw(options.n_sample))
            positive = (hidden * items[wanted]).sum(dim=1, keepdim=True)
            negative = hidden @ items[negatives].T
            if options.logq > 0:  # sampled softmax: each logit minus log(expected draws)
                expected = torch.from_numpy(sampler.probability).float() * options.n_sample
                positive = positive - options.logq * torch.log(expected[wanted])[:, None]
                negative = negative - options.logq * torch.log(expected[negatives])[None, :]
            negative = negative.masked_fill(negatives[None, :] == wanted[:, None], -math.inf)
            logits = torch.cat([positive, negative], dim=1)
            loss = nn.functional.cross_entropy(logits, torch.zeros(len(wanted), dtype=torch.long))
        if options.l2_emb > 0:
            loss = loss + options.l2_emb * items.pow(2).sum() / len(items)
        return loss

    def _encode(self, sequences: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs = self.fitted_network()(sequences)
        return outputs[torch.arange(len(sequences)), lengths - 1]

    def _logits(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors @ self.fitted_network().item_vectors().T
