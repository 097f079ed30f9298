"""Reading a large raw file shows progress (a bar over its bytes) and logs its throughput."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from session_recs.core import progress as bars
from session_recs.data import progress
from session_recs.data.readers import read_recsys15_clicks, read_table

CLICKS = "".join(
    f"{session},2014-04-0{1 + session % 7}T10:{minute:02d}:00.000Z,2148{item:05d},0\n"
    for session in range(1, 400)
    for minute, item in enumerate(range(session % 5 + 2))
)


@pytest.fixture
def clicks_file(tmp_path):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text(CLICKS)
    return path


def test_a_large_file_shows_a_bar_over_its_bytes_and_logs_throughput(
    clicks_file, monkeypatch, capsys, caplog
):
    monkeypatch.setattr(progress, "PROGRESS_MIN_BYTES", 1_000)  # "large" for this test
    monkeypatch.setattr(bars, "on_terminal", lambda: True)
    size = clicks_file.stat().st_size
    with caplog.at_level(logging.INFO, logger="session_recs"):
        clicks = read_recsys15_clicks(clicks_file)

    assert len(clicks) == CLICKS.count("\n")
    bar = capsys.readouterr().err
    assert "reading yoochoose-clicks.dat" in bar and "100%" in bar
    assert f"{size / 1024:.1f}k" in bar or f"{size / 1024:.0f}k" in bar  # total = file size
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith(f"Reading RecSys15 clicks from {clicks_file} (")
    assert messages[1].startswith("Read yoochoose-clicks.dat in ") and "MB/s" in messages[1]


def test_off_a_terminal_a_large_file_logs_plain_lines_not_a_bar(
    clicks_file, monkeypatch, capsys, caplog
):
    monkeypatch.setattr(progress, "PROGRESS_MIN_BYTES", 1_000)
    with caplog.at_level(logging.INFO, logger="session_recs"):
        read_recsys15_clicks(clicks_file)
    assert "\r" not in capsys.readouterr().err
    messages = [record.getMessage() for record in caplog.records]
    # Read in well under the 10 s between lines: one line, when the bar closes.
    size = clicks_file.stat().st_size
    lines = [m for m in messages if m.startswith("reading yoochoose-clicks.dat: ")]
    assert len(lines) == 1 and f": {size:,}/{size:,} B in " in lines[0]


def test_a_small_file_logs_without_a_bar_and_reads_the_same_table(
    clicks_file, tmp_path, capsys, caplog
):
    with caplog.at_level(logging.INFO, logger="session_recs"):
        clicks = read_recsys15_clicks(clicks_file)
    assert "reading" not in capsys.readouterr().err
    assert len(caplog.records) == 2

    table = tmp_path / "t.csv"
    clicks.to_csv(table, index=False)
    again = read_table(table)
    assert len(again) == len(clicks)
    pd.testing.assert_series_equal(again["SessionId"], clicks["SessionId"])
