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

from session_recs.models.neural.gru4rec import GRU4Rec, GRU4RecOptions
from session_recs.models.neural.sasrec import SASRec, SASRecOptions
from session_recs.models.neural.training import (
    ENCODE_CHUNK,
    EpochCallback,
    NeuralRecommender,
    PopularitySampler,
    torch_threads,
)

__all__ = [
    "ENCODE_CHUNK",
    "EpochCallback",
    "GRU4Rec",
    "GRU4RecOptions",
    "NeuralRecommender",
    "PopularitySampler",
    "SASRec",
    "SASRecOptions",
    "torch_threads",
]
