"""Fitted recommenders as files of arrays and plain values: loading one runs no code
from the file (no pickle, ``allow_pickle=False``).

A model file is a zip archive (suffix ``.npz``; ``numpy.load`` reads its arrays too) of:

- ``state.json``: ``format`` (:data:`FORMAT`), ``version`` (:data:`STATE_FORMAT`), the
  model's ``kind`` and ``class``, ``attributes`` (every attribute of the fitted model as a
  JSON value, ``built_from`` included; arrays, sparse matrices, tables and the item index
  are references to members, see :func:`_encode`) and ``arrays`` (each member's dtype and
  shape, checked when it is read);
- one ``<name>.npy`` per numeric array (numpy's format, read with ``allow_pickle=False``);
  an array of Python objects (item ids: strings, possibly mixed with numbers) is a
  ``<name>.json`` list instead.

What is saved is declared once, for every kind: all of a fitted model's attributes
(``vars``) except its class's :attr:`~session_recs.models.base.Recommender.transient` ones;
a model whose state holds a library's object (gensim's vectors, a torch network) turns it
into arrays in ``_export_state`` and back in ``_restore_state``. A file of another
version, or anything else (an old pickle, a zip of something else, a truncated file), is
refused with one line naming the file and saying to retrain.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.models.base import ItemIndex, Recommender

#: What ``state.json`` says it is.
FORMAT = "session-recs model"
#: The version this session-recs writes and reads (:attr:`Recommender.STATE_FORMAT`).
STATE_FORMAT = Recommender.STATE_FORMAT
STATE_MEMBER = "state.json"
#: The sparse classes a file may name (a whitelist: a name never picks code to run).
SPARSE = {
    name: getattr(sp, name)
    for name in ("csr_matrix", "csc_matrix", "coo_matrix", "csr_array", "csc_array", "coo_array")
}
_PARTS = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr")}
_PARTS["coo"] = ("data", "row", "col")


class ModelFileError(DataValidationError):
    """A file that is not a model this session-recs can read: ``where``, why (``reason``)
    and what to do (``retrain``), in one line."""

    def __init__(self, where: str, reason: str, retrain: str) -> None:
        super().__init__(f"{where}: {reason}; {retrain}.")
        self.where, self.reason, self.retrain = where, reason, retrain


class _Malformed(ValueError):
    """Something in a model file that is not as :func:`write_model` writes it."""


def write_model(model: Recommender, file: IO[bytes]) -> None:
    """Write fitted ``model`` to the binary ``file`` (see the module docstring)."""
    from session_recs.models.registry import MODEL_KINDS, kind_of

    cls = type(model)
    where = f"{cls.__module__}:{cls.__qualname__}"
    kind = kind_of(cls)
    if kind is None:
        raise ConfigError(f"{where} is not a registered model kind (MODEL_KINDS): not saved.")
    arrays: dict[str, np.ndarray] = {}
    attributes = {
        name: _encode(value, name, arrays) for name, value in model._export_state().items()
    }
    document = {
        "format": FORMAT,
        "version": STATE_FORMAT,
        "kind": kind,
        "class": MODEL_KINDS[kind],
        "attributes": attributes,
        "arrays": {
            name: {
                "dtype": "object" if array.dtype.hasobject else array.dtype.str,
                "shape": list(array.shape),
            }
            for name, array in arrays.items()
        },
    }
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr(STATE_MEMBER, json.dumps(document, indent=1))
        for name, array in arrays.items():
            if array.dtype.hasobject:
                archive.writestr(f"{name}.json", json.dumps(array.ravel().tolist()))
                continue
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def read_model(file: IO[bytes], where: str, retrain: str = "retrain the model") -> Recommender:
    """The model in the binary, seekable ``file``; a :class:`ModelFileError` naming
    ``where`` and saying ``retrain`` for anything that is not a model file of this version."""

    def refuse(reason: str) -> ModelFileError:
        return ModelFileError(where, reason, retrain)

    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        raise refuse(
            f"not a {FORMAT} file (format {STATE_FORMAT}: a zip of state.json and arrays; "
            "models saved as pickles by older versions are not read)"
        ) from None
    with archive:
        try:
            document = json.loads(archive.read(STATE_MEMBER))
        except KeyError:
            raise refuse(f"a zip archive without {STATE_MEMBER}, not a {FORMAT} file") from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
            raise refuse(f"damaged or truncated ({_first_line(err)})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise refuse(f"{STATE_MEMBER} does not describe a {FORMAT}")
        if document.get("version") != STATE_FORMAT:
            raise refuse(
                f"saved in model format {document.get('version')!r}; this session-recs reads "
                f"format {STATE_FORMAT}"
            )
        try:
            cls = _model_class(document)
            reader = _ArrayReader(archive, document.get("arrays"))
            attributes = document["attributes"]
            if not isinstance(attributes, dict) or not all(map(str.isidentifier, attributes)):
                raise TypeError("attributes is not an object of attribute names")
            state = {str(name): _decode(value, reader) for name, value in attributes.items()}
            model = cls.__new__(cls)
            model._restore_state(state)
        except _Malformed as err:
            raise refuse(str(err)) from None
        except ConfigError as err:  # its kind needs an extra that is not installed
            raise ConfigError(f"{where}: {err}") from None
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise refuse(f"damaged or truncated ({_first_line(err)})") from None
        except (
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            AttributeError,
            RuntimeError,  # an encrypted member, JSON nested too deep
            NotImplementedError,  # a compression zipfile does not read
        ) as err:
            raise refuse(f"malformed {STATE_MEMBER} or arrays ({_first_line(err)})") from None
    if getattr(model, "index", None) is None or getattr(model, "popularity", None) is None:
        raise refuse("the model in it is not fitted")
    return model


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:160]}" if text else type(err).__name__


def _model_class(document: Mapping[str, Any]) -> type[Recommender]:
    from session_recs.models import MODEL_KINDS, model_class

    kind = document.get("kind")
    if kind not in MODEL_KINDS or document.get("class") != MODEL_KINDS[kind]:
        raise _Malformed(
            f"unknown model kind {kind!r} (class {document.get('class')!r}); known kinds: "
            + ", ".join(MODEL_KINDS)
        )
    return model_class(kind)


# --- values <-> JSON with array references ----------------------------------------------


def _encode(value: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:  # noqa: PLR0911 (a branch per kind of value)
    """``value`` as JSON, its arrays moved to ``arrays`` under names made from ``path``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"$array": _add(arrays, path, value)}
    if sp.issparse(value):
        name = type(value).__name__
        if name not in SPARSE:
            raise TypeError(f"{path}: cannot save a {name}")
        parts = {
            part: {"$array": _add(arrays, f"{path}.{part}", getattr(value, part))}
            for part in _PARTS[value.format]
        }
        return {"$sparse": name, "shape": list(value.shape), "parts": parts}
    if isinstance(value, ItemIndex):
        return {"$index": _encode(value.ids, path, arrays)}
    if isinstance(value, pd.DataFrame):
        index = value.index
        plain = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
        return {
            "$frame": [_encode(c, f"{path}.columns.{i}", arrays) for i, c in enumerate(value)],
            "data": [
                _encode(value.iloc[:, i].to_numpy(), f"{path}.{i}", arrays)
                for i in range(value.shape[1])
            ],
            "rows": len(value),
            "index": None if plain else _encode(index.to_numpy(), f"{path}.index", arrays),
        }
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, f"{path}.{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{path}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return {"$dict": {k: _encode(v, f"{path}.{k}", arrays) for k, v in value.items()}}
    raise TypeError(
        f"{path}: cannot save a {type(value).__name__} (a model's state holds arrays, sparse "
        "matrices, tables and plain values; see Recommender._export_state)"
    )


def _add(arrays: dict[str, np.ndarray], path: str, array: np.ndarray) -> str:
    name, n = path, 1
    while name in arrays or name == "state":
        name, n = f"{path}~{n}", n + 1
    if array.dtype.hasobject:  # as JSON values, refused here where the attribute is known
        values = np.empty(array.size, dtype=object)
        values[:] = _plain_values(array, path)
        array = values.reshape(array.shape)
    arrays[name] = array
    return name


_PLAIN = {str, int, float, bool, type(None)}


def _plain_values(array: np.ndarray, path: str) -> list[Any]:
    """An object array's items as JSON values (numpy scalars as Python ones), else TypeError."""
    values = [v.item() if isinstance(v, np.generic) else v for v in array.ravel()]
    for value in values:
        if not isinstance(value, str | int | float | bool | type(None)):
            raise TypeError(f"{path}: cannot save an array holding {type(value).__name__} objects")
    return values


class _ArrayReader:
    """The arrays of an open model archive, each checked against ``state.json``'s table."""

    def __init__(self, archive: zipfile.ZipFile, table: Any) -> None:
        if not isinstance(table, dict):
            raise _Malformed(f"{STATE_MEMBER} has no table of arrays")
        self.archive, self.table = archive, table

    def read(self, name: Any) -> np.ndarray:
        entry = self.table.get(name) if isinstance(name, str) else None
        if not isinstance(entry, dict):
            raise _Malformed(f"array {name!r} is not in the table of arrays")
        shape = tuple(entry.get("shape") or ())
        if entry.get("dtype") == "object":
            values = json.loads(self.archive.read(f"{name}.json"))
            if not isinstance(values, list) or not set(map(type, values)) <= _PLAIN:
                raise _Malformed(f"{name}.json is not a list of plain values")
            array = np.empty(len(values), dtype=object)
            array[:] = values
            return array.reshape(shape)
        with self.archive.open(f"{name}.npy") as member:
            array = np.lib.format.read_array(member, allow_pickle=False)
        if array.dtype.str != entry.get("dtype") or array.shape != shape:
            raise _Malformed(
                f"{name}.npy holds {array.dtype.str} {array.shape}, the table says "
                f"{entry.get('dtype')} {shape}"
            )
        return array


def _decode(value: Any, reader: _ArrayReader) -> Any:  # noqa: PLR0911 (a branch per kind of value)
    """The value :func:`_encode` wrote (JSON in, arrays read from the archive)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_decode(v, reader) for v in value]
    if not isinstance(value, dict) or len(value) < 1:
        raise _Malformed(f"unexpected value {value!r:.60}")
    if "$array" in value:
        return reader.read(value["$array"])
    if "$sparse" in value:
        cls = SPARSE[value["$sparse"]]
        parts = {name: reader.read(ref["$array"]) for name, ref in value["parts"].items()}
        shape = tuple(int(n) for n in value["shape"])
        if value["$sparse"].startswith("coo"):
            return cls((parts["data"], (parts["row"], parts["col"])), shape=shape)
        return cls((parts["data"], parts["indices"], parts["indptr"]), shape=shape)
    if "$index" in value:
        ids = _decode(value["$index"], reader)
        if not isinstance(ids, np.ndarray):
            raise _Malformed("the item index is not an array")
        return ItemIndex(ids.astype(object, copy=False))
    if "$frame" in value:
        columns = [_decode(c, reader) for c in value["$frame"]]
        data = [_decode(c, reader) for c in value["data"]]
        index = _decode(value["index"], reader)
        frame = pd.DataFrame(
            dict(enumerate(data)),
            index=pd.RangeIndex(int(value["rows"])) if index is None else index,
        )
        frame.columns = columns
        return frame
    if "$tuple" in value:
        return tuple(_decode(v, reader) for v in value["$tuple"])
    if "$dict" in value:
        return {str(k): _decode(v, reader) for k, v in value["$dict"].items()}
    raise _Malformed(f"unexpected value {value!r:.60}")
