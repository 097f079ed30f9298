"""The one registry of model kinds and model namespaces, below the models and the pipelines.

- A **kind** is a recommender class (``kind: markov`` in a namespace's ``model``
  parameters); :data:`MODEL_KINDS` says where it lives, imported on demand (gensim and
  torch load only for the kinds that need them). Some kinds need an optional extra
  (:data:`NEEDS_EXTRA`, :data:`EXTRAS`).
- A **namespace** is one trained model of a pipeline (``markov``, ``association_rules_ff19``),
  configured by ``<namespace>.model`` in ``conf/base/parameters_<pipeline>.yml``:
  :data:`NAMESPACES` says which pipeline trains it. Every namespace that has an option to
  search may be searched by the tune pipeline, which refits the best configuration as
  ``<namespace>_tuned`` (:func:`tuned_name`); FF19's Word2Vec search trains
  :data:`SEARCHED_MODEL`.

A kind may also be added by its module alone, in :mod:`session_recs.models.kinds`:
``kinds/<kind>.py`` is kind ``<kind>`` (its Recommender subclass named ``<kind>``), trained
by the baseline pipeline as namespace ``<kind>``; found by file name, not imported.

Nothing else in the package spells these names; this module imports no model module.
"""

from __future__ import annotations

import importlib.util
import pkgutil
from dataclasses import dataclass

#: The package whose modules each add a kind of their file's name (see the docstring).
KINDS_PACKAGE = "session_recs.models.kinds"


def _kind_modules() -> dict[str, str]:
    """kind -> "module:" for each module of :data:`KINDS_PACKAGE` (listed, not imported; the
    class is the module's Recommender subclass named after the kind)."""
    spec = importlib.util.find_spec(KINDS_PACKAGE)
    where = spec.submodule_search_locations if spec else None
    return {
        module.name: f"{KINDS_PACKAGE}.{module.name}:"
        for module in pkgutil.iter_modules(where or [])
        if not module.name.startswith("_")
    }


#: kind -> "module:Class" (imported on demand: gensim is only loaded for word2vec);
#: "module:" for a kind added by its module alone.
MODEL_KINDS: dict[str, str] = {
    "most_popular": "session_recs.models.transitions:MostPopular",
    "association_rules": "session_recs.models.transitions:AssociationRules",
    "sequential_rules": "session_recs.models.transitions:SequentialRules",
    "markov": "session_recs.models.transitions:MarkovChain",
    "item_knn": "session_recs.models.knn:ItemKNN",
    "session_knn": "session_recs.models.knn:SessionKNN",
    "stan": "session_recs.models.stan:STAN",
    "vstan": "session_recs.models.stan:VSTAN",
    "word2vec": "session_recs.models.word2vec:Word2VecRecommender",
    "gru4rec": "session_recs.models.neural:GRU4Rec",
    "sasrec": "session_recs.models.neural:SASRec",
}
ADDED_KINDS = {kind: path for kind, path in _kind_modules().items() if kind not in MODEL_KINDS}
MODEL_KINDS.update(ADDED_KINDS)


def kind_of(cls: type) -> str | None:
    """The kind registered for class ``cls``, else None. A kind's class may be defined in a
    submodule of the registered module (a package such as ``models.neural`` re-exports it)."""
    for kind, path in MODEL_KINDS.items():
        module, _, name = path.partition(":")
        if (cls.__qualname__ == name or (not name and getattr(cls, "name", None) == kind)) and (
            cls.__module__ == module or cls.__module__.startswith(f"{module}.")
        ):
            return kind
    return None


#: Kinds that need an optional extra, by extra.
NEEDS_EXTRA: dict[str, str] = {"gru4rec": "neural", "sasrec": "neural"}


@dataclass(frozen=True)
class Extra:
    """An optional extra: the package it brings, its name for users, how to install it."""

    package: str
    title: str
    install: str

    def missing(self) -> str | None:
        """Why the extra is unusable here (its package is not installed), else None.
        Checked without importing the package, so a run that skips it stays fast."""
        try:
            found = importlib.util.find_spec(self.package) is not None
        except (ImportError, ValueError):
            found = False
        return None if found else f"{self.title}, which is not installed: {self.install}"


EXTRAS = {
    "neural": Extra(
        "torch", "PyTorch", 'pip install -e ".[neural]" (CPU-only build first: README, "Run")'
    ),
}


def missing_extra(kind: str) -> str | None:
    """Why model ``kind`` cannot be built here (its extra is not installed), else None."""
    return EXTRAS[NEEDS_EXTRA[kind]].missing() if kind in NEEDS_EXTRA else None


#: The pipelines that train model namespaces.
BASELINE, TRAIN_W2V, TRAIN_NEURAL, TUNE = "baseline", "train_w2v", "train_neural", "tune"

#: namespace -> the pipeline that trains it (its ``model`` parameters live in
#: ``conf/base/parameters_<pipeline>.yml``), in the report's order.
NAMESPACES: dict[str, str] = {
    "most_popular": BASELINE,
    "association_rules_ff19": BASELINE,
    "association_rules": BASELINE,
    "markov": BASELINE,
    "sequential_rules": BASELINE,
    "sequential_rules_plus": BASELINE,
    "item_knn": BASELINE,
    "session_knn": BASELINE,
    "stan": BASELINE,
    "vstan": BASELINE,
    "word2vec_ff19_default": TRAIN_W2V,
    "word2vec_ff19_tuned": TRAIN_W2V,
    "gru4rec": TRAIN_NEURAL,
    "sasrec": TRAIN_NEURAL,
    # and a baseline namespace for each kind added by its module alone:
    **{kind: BASELINE for kind in ADDED_KINDS},
}
#: Namespaces with no option to search.
NOT_SEARCHABLE = frozenset({"most_popular"})
#: The suffix of a search's refit: the best configuration of ``<model>``'s search is
#: trained as ``<model>_tuned``.
TUNED_SUFFIX = "_tuned"
#: The namespace trained from FF19's Word2Vec search (the tune pipeline's default search,
#: ``tune.model``), whose best configuration is ``best_w2v_params``.
SEARCHED_MODEL = "word2vec_search"


def namespaces_of(pipeline: str) -> tuple[str, ...]:
    """The namespaces ``pipeline`` trains, in the report's order."""
    return tuple(name for name, where in NAMESPACES.items() if where == pipeline)


BASELINE_MODELS = namespaces_of(BASELINE)
W2V_MODELS = namespaces_of(TRAIN_W2V)
#: PyTorch models, which need the ``neural`` extra; without it a run leaves them out in
#: one line.
NEURAL_MODELS = namespaces_of(TRAIN_NEURAL)

#: The models a tune search may search (``tune.model`` / ``tune.models``); the search of
#: :data:`SEARCHED_MODEL` is FF19's (outputs ``tune_results``, ``best_w2v_params``), every
#: other model ``<model>``'s writes ``<model>.tune_results``, ``<model>.best_params`` and
#: refits the best as ``<model>_tuned``. A namespace whose name already ends in the suffix
#: (``word2vec_ff19_tuned``: FF19's tuned preset, not a refit) is not searched: its refit
#: would be ``word2vec_ff19_tuned_tuned``; search ``word2vec_ff19_default`` or
#: ``word2vec_search``'s space instead.
SEARCHABLE_MODELS = tuple(
    name for name in NAMESPACES if name not in NOT_SEARCHABLE and not name.endswith(TUNED_SUFFIX)
)


def tuned_name(model: str) -> str:
    """The namespace the best configuration of ``model``'s search is refitted as."""
    return model if model == SEARCHED_MODEL else f"{model}{TUNED_SUFFIX}"


def refit_of(namespace: str) -> str | None:
    """The model whose search ``namespace`` refits (``markov_tuned`` -> ``markov``), else
    None (``word2vec_ff19_tuned`` is a preset's namespace, not a refit)."""
    searched = namespace.removesuffix(TUNED_SUFFIX)
    return searched if searched != namespace and searched in SEARCHABLE_MODELS else None


#: Every model namespace, in the report's order: each searchable one followed by its tuned
#: refit, then the searched Word2Vec.
MODEL_NAMESPACES = (
    *(
        name
        for model in NAMESPACES
        for name in ((model, tuned_name(model)) if model in SEARCHABLE_MODELS else (model,))
    ),
    SEARCHED_MODEL,
)


def pipeline_of(model: str) -> str:
    """The pipeline that trains ``model``."""
    if model == SEARCHED_MODEL:
        return TRAIN_W2V
    if refit_of(model):
        return TUNE
    return NAMESPACES.get(model, TRAIN_W2V)
