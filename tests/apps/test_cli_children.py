"""Children that kedro-viz's ``run`` spawns do not hear Ctrl-C: the parent stops them.

Ctrl-C reaches the whole process group. A server child still importing when it arrived
printed a ``KeyboardInterrupt`` traceback above the command's one line (seen when the
machine was busy); children spawned under ``_children_without_ctrl_c`` keep SIGINT
blocked, so only the parent reacts, and it ends the child with SIGTERM."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

from session_recs.apps.cli import _children_without_ctrl_c, _end_children


def _wait_for_sigterm(ready) -> None:
    ready.set()
    time.sleep(30)


def _start(ctx, ready):
    child = ctx.Process(target=_wait_for_sigterm, args=(ready,))
    child.start()
    assert ready.wait(60)
    return child


def test_a_child_spawned_in_the_block_survives_sigint_and_ends_on_the_parents_sigterm():
    ctx = multiprocessing.get_context("spawn")
    with _children_without_ctrl_c():
        child = _start(ctx, ctx.Event())
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # parent hears it
    os.kill(child.pid, signal.SIGINT)
    child.join(1.0)
    assert child.is_alive()
    _end_children()
    assert child.exitcode == -signal.SIGTERM


def test_outside_the_block_a_child_is_interrupted_by_sigint():
    ctx = multiprocessing.get_context("spawn")
    child = _start(ctx, ctx.Event())
    os.kill(child.pid, signal.SIGINT)
    child.join(30)
    assert child.exitcode == 1  # KeyboardInterrupt in the child
