"""session-recs: session-based next-item recommendation as a Kedro project.

Three layers, imports going down only (checked by tests/test_layers.py): the library
(models, metrics, evaluation, data, tuning, ...), the Kedro wiring (pipelines, hooks,
settings, the config loader, the session), the applications (cli, cml, recommend).
"""

__version__ = "0.1.0"
