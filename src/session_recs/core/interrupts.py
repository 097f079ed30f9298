"""SIGINT and SIGTERM as one way to stop a command, at any moment, in one line.

:func:`stop_signals` (entered by ``kedro run``) makes both signals raise :class:`Stopped`,
a KeyboardInterrupt that names the signal, so ``finally`` clauses run (Ray is stopped,
half-written files are dropped) and the command ends with one line. Code that must not
be interrupted halfway (``ray.init``, which installs its own handlers and may swallow a
signal) runs under :func:`deferred`: a signal is recorded and raised once it returns.
Code with a graceful stop of its own (a Tune search) runs under :func:`graceful`: the
first signal calls it; a second one raises.

A signal whose :class:`Stopped` lands in code Python cannot raise from (a finalizer, a
weakref callback run by the garbage collector) would be dropped with an "Exception
ignored" message and the command would run on; it is sent again instead
(:func:`_send_again`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """The command was stopped by ``signal`` (``SIGINT``, ``SIGTERM``); ``advice`` goes
    after "Stopped by <signal>" and says how to go on (e.g. the command that resumes a
    search), when there is something to say."""

    def __init__(self, signal_name: str, advice: str = "") -> None:
        super().__init__(signal_name)
        self.signal = signal_name
        self.advice = advice


@dataclass
class _State:
    received: str | None = None  # the signal not yet acted on
    raised: str = "SIGINT"  # the last signal raised as Stopped
    installed: int = 0
    deferred: int = 0
    on_first: Callable[[str], None] | None = None
    # The Stopped last raised, until taken: native code that runs Python's handlers while it
    # waits (DuckDB) replaces it with an error of its own (see `swallowed`).
    last: Stopped | None = None


_state = _State()


def _handler(signum: int, frame: Any) -> None:
    name = signal.Signals(signum).name
    if _state.deferred:
        _state.received = _state.received or name
        return
    if _state.on_first is not None:
        stop, _state.on_first = _state.on_first, None
        stop(name)
        return
    _state.raised = name
    _state.last = Stopped(name)
    raise _state.last


def swallowed() -> Stopped | None:
    """The :class:`Stopped` this process's handler raised last, if nothing took it yet: for
    code that catches a native library's "interrupted" error (DuckDB runs the handler while
    a query runs, then raises an error of its own in place of ours), to raise the signal's
    own stop instead. None when no signal was behind it (the library was told
    to stop some other way)."""
    stop, _state.last = _state.last, None
    return stop


def signal_of(stop: KeyboardInterrupt) -> str:
    """The signal behind ``stop``: Ray's native waits turn a Stopped raised in them into a
    plain KeyboardInterrupt, so it is also remembered here."""
    return stop.signal if isinstance(stop, Stopped) else _state.raised


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install() -> None:
    """Put the handlers (back) in place: Ray replaces SIGTERM's, and its core worker
    installs a native one that dumps a stack, while ``ray.init`` runs."""
    if _state.installed and _main_thread():
        for signum in SIGNALS:
            signal.signal(signum, _handler)


#: How long a dropped signal waits to be sent again: the main thread is then back in
#: ordinary code (else it is dropped and sent again once more).
RESEND_S = 0.05


def _send_again(previous: Callable[[Any], None]) -> Callable[[Any], None]:
    """A ``sys.unraisablehook`` that sends a :class:`Stopped` Python could not raise
    (raised in a finalizer or a weakref callback) again to this process, a moment later,
    without its "Exception ignored" traceback; anything else goes to ``previous``."""

    def hook(unraisable: Any) -> None:
        stop = unraisable.exc_value
        if not (isinstance(stop, Stopped) and _state.installed):
            previous(unraisable)
            return
        resend = threading.Timer(RESEND_S, os.kill, (os.getpid(), signal.Signals[stop.signal]))
        resend.daemon = True
        resend.start()

    return hook


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Stopped` in the block (handlers restored after;
    only the main thread can install them, elsewhere the block runs as is)."""
    if not _main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    unraisable = sys.unraisablehook
    _state.installed += 1
    install()
    sys.unraisablehook = _send_again(unraisable)
    try:
        yield
    finally:
        _state.installed -= 1
        if not _state.installed:
            _state.received, _state.deferred, _state.on_first = None, 0, None
            _state.last = None
        sys.unraisablehook = unraisable
        for signum, old in previous.items():
            signal.signal(signum, old)


def check() -> None:
    """Raise :class:`Stopped` if a signal came while it could not be acted on."""
    if _state.received and not _state.deferred:
        name, _state.received = _state.received, None
        _state.raised = name
        raise Stopped(name)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A signal during the block is recorded and raised when the block ends (the handlers
    are installed again first, whatever the block did to them)."""
    _state.deferred += 1
    try:
        yield
    finally:
        _state.deferred -= 1
        install()
    check()


@contextlib.contextmanager
def graceful(stop: Callable[[str], None]) -> Iterator[None]:
    """The first signal in the block calls ``stop(signal name)`` instead of raising."""
    check()
    _state.on_first = stop
    try:
        yield
    finally:
        _state.on_first = None
