"""The shared stop of SIGINT and SIGTERM (session_recs.core.interrupts), in this process."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from session_recs.core import interrupts
from session_recs.core.interrupts import Stopped, stop_signals


@pytest.fixture(autouse=True)
def last_signal_restored(monkeypatch):
    """The signals sent here stay here: the last signal raised is remembered for the process
    (``signal_of`` names it for a plain KeyboardInterrupt), and a later in-process run that
    is stopped by Ctrl-C must not be reported as this file's SIGTERM."""
    monkeypatch.setattr(interrupts._state, "raised", interrupts._state.raised)


class SignalledOnDrop:
    """An object whose finalizer gets a signal: Python cannot raise from a finalizer."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs here, between bytecodes
            pass


def test_a_signal_that_lands_in_a_finalizer_still_stops_the_block(capsys):
    started = time.monotonic()
    with pytest.raises(Stopped) as stopped, stop_signals():
        SignalledOnDrop()  # dropped at once
        time.sleep(5)
    assert stopped.value.signal == "SIGTERM"
    assert time.monotonic() - started < 5  # stopped, not slept through
    assert "Exception ignored" not in capsys.readouterr().err


class SignalledWhileWriting(logging.Handler):
    """A log handler that gets SIGINT while it writes a record: the signal handler then
    runs inside ``emit``, where a file's writer cannot be entered again."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = self.deepest = 0
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)
        try:
            if record.getMessage() == "writing":
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)  # the signal handler runs here
            self.messages.append(record.getMessage())
        finally:
            self.depth -= 1


def test_a_search_stopped_while_a_record_is_written_logs_after_it_not_inside_it():
    from session_recs.tuning import stop_resume

    handler = SignalledWhileWriting()
    logger = logging.getLogger()
    logger.addHandler(handler)
    tune_stops = []

    def tune_stop(signum: int, frame: object) -> None:
        """As Tune's own stop: it logs and sets a handler (main thread only)."""
        logging.getLogger("ray.tune").warning("Stop signal received")
        signal.signal(signal.SIGINT, signal.getsignal(signal.SIGINT))
        tune_stops.append(signum)

    tune_handler = signal.signal(signal.SIGUSR1, tune_stop)
    state = stop_resume.Stop()
    try:
        with stop_signals(), stop_resume.stop_search(state):
            logger.warning("writing")
            deadline = time.monotonic() + 5
            while len(handler.messages) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        logger.removeHandler(handler)
        signal.signal(signal.SIGUSR1, tune_handler)
    assert state.signal == "SIGINT"
    assert tune_stops == [signal.SIGUSR1]  # Tune was told to stop, in the main thread
    assert handler.messages[0] == "writing"
    assert handler.messages[1].startswith("SIGINT received: stopping the search")
    # Nothing was written inside the interrupted record (Tune's own line is dropped).
    assert handler.deepest == 1
    assert len(handler.messages) == 2
