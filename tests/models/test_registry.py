"""The registry: one list of kinds and namespaces, and refits that are named once."""

import subprocess
import sys

import pytest

from session_recs.core.errors import ConfigError
from session_recs.framework.run_plan import check_searched
from session_recs.models.registry import (
    MODEL_NAMESPACES,
    SEARCHABLE_MODELS,
    SEARCHED_MODEL,
    TUNED_SUFFIX,
    pipeline_of,
    refit_of,
    tuned_name,
)


def test_a_preset_named_tuned_is_not_refitted_as_tuned_tuned():
    # word2vec_ff19_tuned is FF19's tuned preset, not a search's refit.
    assert "word2vec_ff19_tuned" in MODEL_NAMESPACES
    assert "word2vec_ff19_tuned" not in SEARCHABLE_MODELS
    assert not [name for name in MODEL_NAMESPACES if name.endswith(TUNED_SUFFIX * 2)]
    assert refit_of("word2vec_ff19_tuned") is None
    assert pipeline_of("word2vec_ff19_tuned") == "train_w2v"
    with pytest.raises(
        ConfigError, match=r"word2vec_ff19_tuned is not searched: its name ends in _tuned"
    ):
        check_searched(["word2vec_ff19_tuned"])


def test_every_searchable_model_has_one_refit_trained_by_tune():
    for model in SEARCHABLE_MODELS:
        refit = tuned_name(model)
        assert refit == f"{model}_tuned"
        assert refit_of(refit) == model
        assert pipeline_of(refit) == "tune"
        assert MODEL_NAMESPACES.count(refit) == 1
    assert tuned_name(SEARCHED_MODEL) == SEARCHED_MODEL
    assert pipeline_of(SEARCHED_MODEL) == "train_w2v"
    assert refit_of("most_popular_tuned") is None  # most_popular has nothing to search


def test_the_registry_imports_no_model_module():
    code = (
        "import sys, session_recs.models.registry; "
        "print(sorted(m for m in sys.modules if m.startswith('session_recs.models.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for module in ("transitions", "knn", "stan", "word2vec", "neural"):
        assert f"session_recs.models.{module}'" not in out


MODULE = """
from typing import ClassVar
import scipy.sparse as sp
from session_recs.models.base import Recommender

class Nothing(Recommender):
    name: ClassVar[str] = "nothing"

    def _fit(self, sessions):
        pass

    def candidates(self, queries):
        return sp.csr_matrix((len(queries), len(self.fitted_index())))
"""


def test_a_kind_is_added_by_its_module_alone(tmp_path, monkeypatch):
    from session_recs.models import build_model, model_class, registry

    (tmp_path / "plugged").mkdir()
    (tmp_path / "plugged" / "__init__.py").write_text("")
    (tmp_path / "plugged" / "nothing.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "KINDS_PACKAGE", "plugged")
    found = registry._kind_modules()
    assert found == {"nothing": "plugged.nothing:"}
    monkeypatch.setitem(registry.MODEL_KINDS, "nothing", found["nothing"])
    cls = model_class("nothing")
    assert cls.__name__ == "Nothing" and registry.kind_of(cls) == "nothing"
    assert build_model("nothing").built_from == {"kind": "nothing", "options": {}}
    with pytest.raises(
        ConfigError, match=r"unknown option\(s\) \['k'\]|Unknown option\(s\) \['k'\]"
    ):
        build_model("nothing", {"k": 1})


def test_the_kinds_package_adds_no_kind_in_the_shipped_tree():
    from session_recs.models import registry

    assert registry.ADDED_KINDS == {}
