"""The service's load benchmark (benchmarks/bench_service.py, benchmarks/wrk_replay.lua):
Debian's wrk replays sessions click by click against a running service, and no replayed
session grows past the session it replays, within a run (its rounds) and across the
runs of one service (each run's own prefix)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from session_recs.apps.service.store import MemoryStore
from session_recs.models import build_model

from .test_service import holder_of, running
from .test_serving import planted_sessions


def _script(name: str) -> ModuleType:
    """A script of benchmarks/ (not a package) as a module."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bench_service = _script("bench_service")

pytestmark = [
    pytest.mark.slow,  # a service and an outside load generator
    pytest.mark.skipif(
        shutil.which("wrk") is None, reason="wrk is not installed (.ci/run installs Debian's)"
    ),
]

#: The replayed sessions: 5 clicks each on items the planted model knows.
SESSIONS = [[f"a{(s + i) % 10}" for i in range(5)] for s in range(12)]


def test_wrk_replays_sessions_that_never_grow_past_their_length(tmp_path):
    paths = tmp_path / "replay.txt"
    assert bench_service.replay_file(SESSIONS, paths) == 60
    store = MemoryStore()
    holder = holder_of(tmp_path, build_model("sequential_rules").fit(planted_sessions()))
    with running(holder, store) as url:
        # 2 s at 200 requests/s over 60 clicks: each run goes round the file several times.
        runs = [bench_service.wrk(url, paths, 200, 2, 4, 2) for _ in range(2)]
        held = {name: list(session.items) for name, session in store._sessions.items()}
    for result in runs:  # each run went round the file: its sessions under new ids
        assert result["failed"] == 0 and result["requests"] > 60, result
    assert any("-r1-" in name for name in held), sorted(held)[:5]
    for name, items in held.items():
        number = int(name.rsplit("-s", 1)[1])
        replayed = SESSIONS[number]
        # Each click once, in order. (wrk builds one request per thread before the run and
        # never sends it: a thread's first session may start at its second click.)
        assert any(items == replayed[start : start + len(items)] for start in (0, 1)), (
            name,
            items,
        )
    prefixes = {name.split("-", 1)[0] for name in held}
    assert len(prefixes) == 2, sorted(prefixes)  # the two runs kept apart
    # Every click wrk counted was appended once (and those in flight when it stopped).
    extra = sum(len(items) for items in held.values()) - sum(r["requests"] for r in runs)
    assert 0 <= extra <= 2 * 4, extra
