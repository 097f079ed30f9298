"""The Kedro wiring: config loader, hooks, session and run planning, datasets, tracking."""
