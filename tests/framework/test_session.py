"""A plain `kedro run` runs the default pipeline as a pipeline, not as a list of nodes: no
"partial pipeline run" warning from kedro-viz, whose run status then lists every node."""

from __future__ import annotations

import json

import pytest

from ..conftest import run_in_process

pytestmark = pytest.mark.slow  # one whole default run on the demo data, in process

EVENTS = ".viz/kedro_pipeline_events.json"


def test_a_plain_run_is_the_default_pipeline_and_kedro_viz_follows_it(split_project, tmp_path):
    from kedro.framework.project import configure_project

    from session_recs.pipeline_registry import register_pipelines

    project = split_project(tmp_path / "project")
    result = run_in_process(project, "run")
    assert result.exit_code == 0 and result.exception is None, result.output[-3000:]
    assert "Workflow tracking is disabled" not in result.log
    events = json.loads((project / EVENTS).read_text())
    # kedro-viz's hook keeps its events in the process: this run's start from its last
    # before_pipeline_run (other in-process runs of this worker came before it).
    starts = [i for i, event in enumerate(events) if event["event"] == "before_pipeline_run"]
    events = events[starts[-1] :]
    assert [events[0]["event"], events[-1]["event"]] == [
        "before_pipeline_run",
        "after_pipeline_run",
    ]
    ran = [event["node"] for event in events if event["event"] == "after_node_run"]
    configure_project("session_recs")
    default = register_pipelines()["__default__"]
    assert sorted(ran) == sorted(node.name for node in default.nodes)
    assert len(ran) == 39
