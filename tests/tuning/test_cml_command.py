"""`cml-cluster` pieces that need no Ray: what a CML worker runs, the dashboard URL, the
state file. The command itself runs against a stand-in CML in test_cml_cluster.py."""

from __future__ import annotations

import subprocess

import pytest

from session_recs.core.errors import ConfigError
from session_recs.tuning import cml_cluster as cml


def test_worker_code_runs_a_ray_node_that_joins_the_head(monkeypatch):
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: commands.append(command))
    monkeypatch.setenv("CDSW_IP_ADDRESS", "10.1.2.3")
    exec(cml.worker_code("10.0.0.5:6379", 4), {})
    (command,) = commands
    assert command[:3] == ["ray", "start", "--block"]
    assert {"--address=10.0.0.5:6379", "--num-cpus=4", "--node-ip-address=10.1.2.3"} <= set(command)
    # Ports a second node on the same host would collide on are picked free.
    port = next(arg for arg in command if arg.startswith("--dashboard-agent-listen-port="))
    assert int(port.split("=")[1]) > 0
    assert "--min-worker-port=0" in command


def test_dashboard_url_goes_through_cmls_read_only_port():
    environ = {"CDSW_ENGINE_ID": "e1", "CDSW_DOMAIN": "ml.example.com"}
    environ["CDSW_READONLY_PORT"] = "8100"
    assert cml.dashboard_url(environ, "10.0.0.5", 8100) == "https://read-only-e1.ml.example.com"
    assert cml.dashboard_url(environ, "10.0.0.5", 8265) == "http://10.0.0.5:8265"


def test_state_file_round_trips_and_down_without_up_says_what_to_do(tmp_path):
    path = tmp_path / "cluster.json"
    state = cml.ClusterState("10.0.0.5:6379", 123, "head.log", "http://x", ["w1", "w2"])
    state.save(path)
    assert cml.ClusterState.load(path) == state
    with pytest.raises(ConfigError, match="No CML Ray cluster recorded in .*cml-cluster up"):
        cml.ClusterState.load(tmp_path / "missing.json")
