"""The applications: the CLI, the CML cluster commands, recommend."""
