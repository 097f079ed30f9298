"""Log filters conf/logging.yml cannot declare (:func:`route_console` installs them):
:class:`NodeProgress` makes the runner's two lines per finished node one, and
:class:`DropWarnings` drops library warnings users cannot act on. conf/logging.yml sets
the handlers (plain lines on stderr, info.log) and the levels."""

from __future__ import annotations

import logging
import re

#: The runners' loggers (each runner logs under its own module's name).
RUNNERS = (
    "kedro.runner.runner",
    "kedro.runner.sequential_runner",
    "kedro.runner.parallel_runner",
    "kedro.runner.thread_runner",
)


class NodeProgress(logging.Filter):
    """One line per finished node: Kedro's runner logs ``Completed node: <name>`` and then
    ``Completed 9 out of 11 tasks``; this keeps the second, naming the node."""

    _COUNT = re.compile(r"Completed \d+ out of \d+ tasks$")

    def __init__(self) -> None:
        super().__init__()
        self._node: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Using synchronous mode for loading and saving data"):
            return False  # the hint to try --async, at every run
        if message.startswith("Completed node: "):
            self._node = message.removeprefix("Completed node: ")
            return False
        if self._node and self._COUNT.match(message):
            record.msg, record.args = f"{message}: {self._node}", ()
            self._node = None
        return True


#: Warnings users cannot act on (raised inside libraries, about the libraries), dropped
#: from the log; Kedro's handler routes every warning through the ``py.warnings`` logger.
UNACTIONABLE_WARNINGS = (
    # MLflow, with the mlflow extra, on importing kedro-mlflow's model class (its own
    # `warnings.catch_warnings` re-enables UserWarnings, so a warnings filter cannot).
    "Add type hints to the `predict` method",
    # FastAPI, on importing kedro-viz (`kedro viz run` / `kedro viz build`): about
    # kedro-viz's own response class.
    "ORJSONResponse is deprecated",
)


class DropWarnings(logging.Filter):
    """Drops the ``py.warnings`` records that contain one of :data:`UNACTIONABLE_WARNINGS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in UNACTIONABLE_WARNINGS)


def route_console() -> None:
    """Warnings through the log (so :class:`DropWarnings` sees them) and one line per
    finished node (:class:`NodeProgress`), whatever handlers conf/logging.yml sets.

    Done in code because Kedro lets conf/logging.yml name classes of ``logging`` and
    ``kedro.logging`` only; called from ``settings.py``, before any node runs.
    """
    logging.captureWarnings(True)
    for name, kind in (
        *((runner, NodeProgress) for runner in RUNNERS),
        ("py.warnings", DropWarnings),
    ):
        log = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in log.filters):
            log.addFilter(kind())
