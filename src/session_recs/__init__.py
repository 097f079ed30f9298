"""session-recs: session-based next-item recommendation as a Kedro project."""

__version__ = "0.1.0"
