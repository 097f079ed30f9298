"""Model files hold arrays and plain values: every kind answers the same after a save and
load, loading never unpickles, and anything else (an old pickle, another version, a
truncated file, a crafted pickle payload) is refused in one line naming the file."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import Version

from session_recs.data.atomic import AtomicLocalFileSystem, make_atomic
from session_recs.evaluation.next_event import pair_set
from session_recs.framework.model_files import RecommenderDataset
from session_recs.models import MODEL_KINDS, build_model
from session_recs.models.state import STATE_FORMAT, ModelFileError, read_model, write_model

from ..conftest import model_kinds

#: Small, fast options; a kind with several code paths is saved in each of them.
VARIANTS = {
    "word2vec": [
        {"vector_size": 8, "epochs": 2, "workers": 1, "progress": False},
        {"vector_size": 8, "epochs": 2, "workers": 1, "progress": False, "context": "session"},
    ],
    "association_rules": [{}, {"mode": "ff19"}, {"pruning": 3, "history_weight": 0.5}],
    "sequential_rules": [{"context_window": 3}],
    "session_knn": [{"similarity": "cosine", "m": 4}],
    "vstan": [{"similarity": "vec", "lambda_idf": None}],
    "gru4rec": [{"layers": 8, "epochs": 1, "n_sample": 8, "progress": False}],
    "sasrec": [{"hidden_units": 8, "epochs": 1, "n_sample": 8, "progress": False}],
}
CASES = [
    pytest.param(kind, options, id=f"{kind}-{n}", marks=getattr(param, "marks", ()))
    for param in model_kinds(sorted(MODEL_KINDS))
    for kind in [param.values[0] if hasattr(param, "values") else param]
    for n, options in enumerate(VARIANTS.get(kind, [{}]))
]


def sessions(n: int = 150, seed: int = 3) -> pd.DataFrame:
    """``n`` sessions of 2-9 clicks over 40 items, an hour apart."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 10, size=n)
    return pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(n), lengths),
            "position": np.concatenate([np.arange(k) for k in lengths]),
            "item_id": [f"i{j}" for j in rng.integers(0, 40, size=lengths.sum())],
            "timestamp": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(np.repeat(np.arange(n), lengths), unit="h"),
        }
    )


def queries(model, n: int = 60):
    """Test queries with sessions so far of 1-4 clicks, some of unknown items."""
    rng = np.random.default_rng(11)
    lengths = rng.integers(1, 5, size=n)
    items = [f"i{j}" for j in rng.integers(0, 44, size=lengths.sum())]  # i40+ unknown
    context = pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(n), lengths),
            "position": np.concatenate([np.arange(k) for k in lengths]),
            "item_id": items,
        }
    )
    last = context.groupby("session_id")["item_id"].last()
    pairs = pd.DataFrame(
        {"session_id": last.index, "query_item": last.to_numpy(), "target_item": "i0"}
    )
    return pair_set(pairs, model.index, context).queries


def saved(model) -> bytes:
    buffer = io.BytesIO()
    write_model(model, buffer)
    return buffer.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def loaded(data: bytes, where: str = "model.npz"):
    return read_model(io.BytesIO(data), where, "retrain it: `kedro run --namespaces=m`")


@pytest.mark.parametrize(("kind", "options"), CASES)
def test_every_kind_answers_identically_after_a_save_and_load(kind, options):
    model = build_model(kind, options).fit(sessions())
    restored = loaded(saved(model))
    assert type(restored) is type(model)
    assert restored.built_from == model.built_from and restored.params() == model.params()
    assert restored.index.ids.tolist() == model.index.ids.tolist()
    batch = queries(model)
    for exclude_query in (True, False):
        before = model.recommend(batch, 10, exclude_query=exclude_query)
        after = restored.recommend(batch, 10, exclude_query=exclude_query)
        np.testing.assert_array_equal(after.items, before.items)
        np.testing.assert_array_equal(after.scores, before.scores)
    # Saved again, the loaded model gives the same members: nothing was lost on the way.
    again, first = members(saved(restored)), members(saved(model))
    assert json.loads(again.pop("state.json")) == json.loads(first.pop("state.json"))
    assert again == first


def test_word2vec_keeps_its_vectors_and_training_history():
    options = VARIANTS["word2vec"][0]
    model = build_model("word2vec", options).fit(sessions())
    restored = loaded(saved(model))
    assert restored.wv.index_to_key == model.wv.index_to_key
    np.testing.assert_array_equal(restored.wv.vectors, model.wv.vectors)
    pd.testing.assert_frame_equal(restored.history, model.history)
    assert restored.callbacks == ()


def test_item_ids_keep_their_types_mixed_or_not():
    train = sessions()
    ids = {f"i{j}": value for j, value in enumerate([7, "7", 7.5, True, "é", *range(100, 135)])}
    train["item_id"] = train["item_id"].map(ids).astype(object)
    model = build_model("markov").fit(train)
    restored = loaded(saved(model))
    assert [(type(i), i) for i in restored.index.ids] == [(type(i), i) for i in model.index.ids]
    asked = [7, "7", 7.5, "8"]
    assert restored.index.encode(asked).tolist() == model.index.encode(asked).tolist()


def test_loading_never_unpickles(monkeypatch):
    data = saved(build_model("association_rules", {"mode": "ff19"}).fit(sessions()))
    read_array = np.lib.format.read_array

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used while loading a model")

    def no_pickle(*args, allow_pickle=False, **kwargs):
        assert allow_pickle is False
        return read_array(*args, allow_pickle=allow_pickle, **kwargs)

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(np.lib.format, "read_array", no_pickle)
    monkeypatch.setattr(np, "load", forbidden)
    assert loaded(data).index is not None


class _Payload:
    """Unpickling this creates ``marker``: what a malicious model file would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_file_carrying_a_pickle_payload_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    # An old-style model file: a pickle.
    with pytest.raises(ModelFileError, match="not a session-recs model file"):
        loaded(pickle.dumps(_Payload(marker)))
    # A model file whose array member is a pickled object array.
    content = members(saved(build_model("markov").fit(sessions())))
    state = json.loads(content["state.json"])
    state["arrays"]["popularity"] = {"dtype": "|O", "shape": [1]}
    content["state.json"] = json.dumps(state).encode()
    payload = io.BytesIO()
    np.save(payload, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    content["popularity.npy"] = payload.getvalue()
    crafted = io.BytesIO()
    with zipfile.ZipFile(crafted, "w") as archive:
        for name, member in content.items():
            archive.writestr(name, member)
    with pytest.raises(ModelFileError, match="allow_pickle=False"):
        loaded(crafted.getvalue())
    assert not marker.exists()


def _other_version(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as old, zipfile.ZipFile(out, "w") as new:
        for name in old.namelist():
            content = old.read(name)
            if name == "state.json":
                content = json.dumps({**json.loads(content), "version": STATE_FORMAT - 1})
            new.writestr(name, content)
    return out.getvalue()


def _other_zip(_: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return out.getvalue()


def _other_npz(_: bytes) -> bytes:
    out = io.BytesIO()
    np.savez(out, a=np.arange(3))
    return out.getvalue()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: pickle.dumps({"index": None}), "not a session-recs model file"),
        (lambda data: b"", "not a session-recs model file"),
        (lambda data: data[: len(data) // 2], "not a session-recs model file"),
        (lambda data: data[:-30], "not a session-recs model file"),
        (_other_version, f"saved in model format {STATE_FORMAT - 1}; this session-recs reads"),
        (_other_zip, "a zip archive without state.json"),
        (_other_npz, "a zip archive without state.json"),
    ],
    ids=["old-pickle", "empty", "truncated", "truncated-end", "other-version", "zip", "npz"],
)
def test_other_files_are_refused_in_one_line_naming_the_file(damage, reason):
    data = saved(build_model("markov").fit(sessions()))
    with pytest.raises(ModelFileError) as refused:
        loaded(damage(data), where="data/06_models/demo/markov.npz/V/markov.npz")
    message = str(refused.value)
    assert len(message.splitlines()) == 1
    assert message.startswith("data/06_models/demo/markov.npz/V/markov.npz: ")
    assert reason in message and message.endswith("retrain it: `kedro run --namespaces=m`.")


def test_a_damaged_array_member_is_refused(tmp_path):
    data = bytearray(saved(build_model("markov").fit(sessions())))
    at = data.find(b"\x93NUMPY", data.find(b"popularity.npy"))
    data[at + 200] ^= 0xFF  # a byte of the array: the zip's checksum no longer matches
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        loaded(bytes(data))


def test_the_dataset_saves_versions_atomically_and_loads_them(tmp_path):
    model = build_model("sequential_rules").fit(sessions())
    path = tmp_path / "sequential_rules.npz"
    dataset = RecommenderDataset(filepath=str(path), version=Version(None, None))
    assert make_atomic(dataset) and isinstance(dataset._fs, AtomicLocalFileSystem)
    dataset.save(model)
    [version] = list(path.iterdir())
    assert [p.name for p in version.iterdir()] == ["sequential_rules.npz"]  # no leftovers
    assert zipfile.is_zipfile(version / "sequential_rules.npz")
    assert np.load(version / "sequential_rules.npz", allow_pickle=False)["popularity"].sum() > 0
    restored = dataset.load()
    batch = queries(model)
    np.testing.assert_array_equal(
        restored.recommend(batch, 5).items, model.recommend(batch, 5).items
    )


def test_a_save_that_fails_midway_publishes_nothing(tmp_path):
    model = build_model("markov").fit(sessions())
    model.extra = object()  # not an array or a plain value: refused after the arrays began
    path = tmp_path / "markov.npz"
    dataset = RecommenderDataset(filepath=str(path), version=Version(None, None))
    make_atomic(dataset)
    with pytest.raises(Exception, match="extra: cannot save a object"):
        dataset.save(model)
    assert not [p for p in path.rglob("*") if p.is_file()]


def test_the_dataset_names_the_file_and_the_retrain_command(tmp_path):
    path = tmp_path / "markov.npz"
    dataset = RecommenderDataset(filepath=str(path), version=Version(None, None))
    dataset.save(build_model("markov").fit(sessions()))
    [saved_file] = [p for p in path.rglob("*") if p.is_file()]
    saved_file.write_bytes(b"not a model")
    with pytest.raises(Exception) as refused:
        dataset.load()
    cause = refused.value.__cause__ or refused.value
    assert isinstance(cause, ModelFileError)
    assert str(cause).startswith(f"{saved_file}: not a session-recs model file")
    assert str(cause).endswith("retrain it: `kedro run --namespaces=markov`.")
