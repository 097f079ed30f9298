"""session-recs: session-based next-item recommendation as a Kedro project.

One folder per layer, imports going down only (pyproject.toml's import-linter contracts):
``apps``, ``framework`` (the Kedro wiring), ``pipelines``, then the library: ``tuning``,
``evaluation``, ``models`` and ``data``, ``core``. docs/layout.md.
"""

__version__ = "0.1.0"
