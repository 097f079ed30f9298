"""A signal during a long query of the columnar engine (session_recs.data.engine) stops it
as a signal stops any other step: the query is cut short, the command's
:class:`~session_recs.core.interrupts.Stopped` names the signal (never an engine failure
reported as a data error), and a write it stops leaves no file behind."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from session_recs.core import interrupts
from session_recs.core.errors import DataValidationError
from session_recs.core.interrupts import Stopped, stop_signals
from session_recs.data import engine

#: A query that runs for a minute or more on 2 cores, over a table as the engine's own
#: tables are (scanned in parallel pieces, each of which checks for an interrupt).
LONG = "SELECT count(*) AS n FROM t a JOIN t b ON a.k = b.k WHERE a.x + b.x % 7 > 0"


def long_query(tmp_path):
    con = engine.connect(memory_limit="500MB", threads=2, spill=tmp_path / "spill")
    con.raw_sql("CREATE TABLE t AS SELECT range AS x, range % 500 AS k FROM range(4000000)")
    return con, con.sql(LONG)


@pytest.fixture(autouse=True)
def last_signal_restored(monkeypatch):
    """The signals sent here are not remembered as the process's last one, nor left to be
    taken by a later test."""
    monkeypatch.setattr(interrupts._state, "raised", interrupts._state.raised)
    monkeypatch.setattr(interrupts._state, "last", None)


def signal_soon(signum: int, after_s: float = 0.5) -> threading.Timer:
    timer = threading.Timer(after_s, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()
    return timer


@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_running_query_as_the_signal(tmp_path, signum):
    con, query = long_query(tmp_path)
    with pytest.raises(Stopped) as stopped, stop_signals():
        signal_soon(signum)
        with engine.errors("counting", con):
            query.execute()
    assert stopped.value.signal == signal.Signals(signum).name
    assert interrupts._state.last is None  # taken: a later error is not called a stop
    # The engine's threads stopped too: the next query is answered at once (it would wait
    # minutes for the interrupted one to run to its end; the mark's timeout fails it).
    assert int(con.sql("SELECT 41 + 1 AS x").execute()["x"].iloc[0]) == 42


def test_an_interrupted_query_outside_a_command_is_not_called_a_data_error(tmp_path):
    """Interrupted from elsewhere (a notebook's stop button calls the connection's
    interrupt): a KeyboardInterrupt, not "The columnar engine failed"."""
    con, query = long_query(tmp_path)
    timer = threading.Timer(0.5, con.con.interrupt)
    timer.daemon = True
    timer.start()
    with pytest.raises(KeyboardInterrupt) as raised, engine.errors("counting", con):
        query.execute()
    assert not isinstance(raised.value, DataValidationError)


def test_a_write_a_signal_stops_leaves_no_file(tmp_path):
    """Neither the target, nor the atomic save's hidden file, nor DuckDB's own temporary
    file: the folder is as it was."""
    con = engine.connect(memory_limit="500MB", threads=2, spill=tmp_path / "spill")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "kept.parquet").write_bytes(b"an earlier version")
    con.raw_sql("CREATE TABLE t AS SELECT range AS x, range % 500 AS k FROM range(4000000)")
    long_rows = con.sql("SELECT a.x, b.x AS y FROM t a JOIN t b ON a.k = b.k")
    with pytest.raises(Stopped), stop_signals():
        signal_soon(signal.SIGINT, after_s=1.0)
        with engine.errors("writing", con):
            engine.write_parquet(long_rows, folder / "table.parquet")
    assert sorted(p.name for p in folder.iterdir()) == ["kept.parquet"]
    assert (folder / "kept.parquet").read_bytes() == b"an earlier version"


def test_an_error_with_no_signal_behind_it_is_left_as_it_is(tmp_path):
    """A RuntimeError of the code under the engine's error block (no stop in its chain) is
    neither a stop nor an engine failure, even after an earlier stop was taken."""
    interrupts._state.last = Stopped("SIGINT")  # raised earlier, never taken
    with pytest.raises(RuntimeError, match="not a signal"), engine.errors("counting"):
        raise RuntimeError("not a signal")


@pytest.mark.timeout(120, method="thread")
def test_a_signal_during_a_fit_on_the_engine_stops_it_as_the_signal(tmp_path):
    import numpy as np
    import pandas as pd

    from session_recs.pipelines.modeling import fit_recommender

    rng = np.random.default_rng(0)
    events = 3_000_000  # counted for several seconds on 2 cores
    frame = pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(events // 20), 20),
            "position": np.tile(np.arange(20, dtype=np.int32), events // 20),
            "item_id": pd.Series(rng.integers(0, 200_000, events).astype(str), dtype="str"),
        }
    )
    path = tmp_path / "train_sessions.parquet"
    frame.to_parquet(path)
    con = engine.connect(memory_limit="1GB", threads=2, spill=tmp_path / "spill")
    table = engine.read_interactions(con, path)
    with pytest.raises(Stopped) as stopped, stop_signals():
        signal_soon(signal.SIGINT)
        fit_recommender(table, pd.DataFrame(), {"kind": "sequential_rules", "options": {}})
    assert stopped.value.signal == "SIGINT"
    assert int(con.sql("SELECT 41 + 1 AS x").execute()["x"].iloc[0]) == 42
