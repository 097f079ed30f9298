"""The shared stop of SIGINT and SIGTERM (session_recs.interrupts), in this process."""

from __future__ import annotations

import os
import signal
import time

import pytest

from session_recs.interrupts import Stopped, stop_signals


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
