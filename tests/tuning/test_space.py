"""Search configuration: presets, layering, Ray objects, results helpers, and every error
a user can make, all without starting Ray."""

from __future__ import annotations

import copy
import socket
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.tuning import results
from session_recs.tuning.address import check_reachable, resolve
from session_recs.tuning.ray_objects import param_space, search_algorithm, trial_scheduler
from session_recs.tuning.search_settings import RaySettings
from session_recs.tuning.space import parse_settings
from session_recs.tuning.stop_resume import previous_experiments

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base() -> dict:
    """conf/base/parameters_tune.yml as plain data (the `ray` interpolation left as text)."""
    return yaml.safe_load((ROOT / "conf/base/parameters_tune.yml").read_text())


def settings_with(base: dict, **overrides):
    tune = copy.deepcopy(base["tune"])
    tune.update(overrides)
    return parse_settings(tune, {"address": "local"})


def test_ff19_grid_is_fifteen_thirty_nine_exact_trials(base):
    settings = settings_with(base, preset="ff19_grid")
    assert settings.n_trials == 539
    assert settings.space["window"].values == (1, 4, 7, 10, 13, 16, 19)
    assert settings.space["negative"].values == (1, 4, 7, 10, 13, 16, 19)
    assert settings.space["ns_exponent"].values == (
        -1.0, -0.8, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0
    )  # fmt: skip
    assert (settings.max_epochs, settings.scheduler.kind, settings.search_alg) == (
        100,
        "fifo",
        "basic",
    )
    space = param_space(settings)
    assert space["window"] == {"grid_search": [1, 4, 7, 10, 13, 16, 19]}


def test_ff19_negative_is_the_committed_seven_trial_script(base):
    settings = settings_with(base, preset="ff19_negative")
    assert settings.n_trials == 7
    assert settings.max_epochs == 10
    assert settings.fixed == {"preset": "ff19_default"}


def test_default_preset_is_optuna_with_asha_under_a_budget(base):
    settings = settings_with(base)
    assert settings.preset == "efficient"
    assert (settings.search_alg, settings.scheduler.kind) == ("optuna", "asha")
    assert settings.num_samples == 300 and settings.n_trials == 300
    assert settings.time_budget_s == "auto"
    assert set(settings.space) == {
        "vector_size", "window", "negative", "ns_exponent", "alpha", "sample", "epochs"
    }  # fmt: skip
    assert settings.metric_name == "val_recall_at_10"
    searcher = search_algorithm(settings)
    assert type(searcher).__name__ == "OptunaSearch"
    scheduler = trial_scheduler(settings)
    assert type(scheduler).__name__ == "AsyncHyperBandScheduler"
    assert scheduler._time_attr == "epoch"
    assert scheduler._max_t == 60


def test_smoke_keeps_the_algorithm_and_replaces_the_space(base):
    settings = settings_with(base, smoke=True)
    assert settings.search_alg == "optuna"
    assert settings.n_trials == 4 and settings.max_epochs == 3
    assert set(settings.space) == {"window", "negative", "epochs"}
    # Dict settings merge key by key: the preset's scheduler kind, the smoke grace period.
    assert settings.scheduler.kind == "asha" and settings.scheduler.grace_period == 1
    assert settings.fixed == {"preset": "ff19_default", "vector_size": 16}
    assert settings.points_to_evaluate == ()


def test_top_level_keys_beat_preset_and_smoke(base):
    settings = settings_with(base, smoke=True, num_samples=2, scheduler={"grace_period": 2})
    assert settings.num_samples == 2
    assert settings.scheduler.grace_period == 2


def test_ray_space_objects_keep_inclusive_integer_ranges(base):
    space = {
        "window": {"int": [1, 3]},
        "vector_size": {"int": [16, 64], "step": 16},
        "negative": {"logint": [1, 20]},
        "ns_exponent": {"uniform": [-1, 1], "step": 0.5},
        "alpha": {"loguniform": [0.001, 0.1]},
        "sample": {"choice": [0, 0.001]},
    }
    settings = settings_with(base, space=space, points_to_evaluate=[])
    ray_space = param_space(settings)
    assert (ray_space["window"].lower, ray_space["window"].upper) == (1, 4)
    assert (ray_space["negative"].lower, ray_space["negative"].upper) == (1, 21)
    assert ray_space["vector_size"].sampler.q == 16
    assert ray_space["ns_exponent"].sampler.q == 0.5
    assert ray_space["sample"].categories == [0.0, 0.001]
    samples = {ray_space["window"].sample() for _ in range(200)}
    assert samples == {1, 2, 3}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"preset": "fast"},
            "tune.preset='fast' does not exist. Known presets: association_rules, efficient",
        ),
        (
            {"space": {"windw": {"int": [1, 5]}}},
            "tune.space.windw: word2vec_search (word2vec) has no searchable option 'windw' "
            "(did you mean window?)",
        ),
        ({"space": {"window": {"int": [5, 1]}}}, "tune.space.window: empty range (low 5 > high 1)"),
        ({"space": {"window": {"grid": []}}}, "tune.space.window: empty grid"),
        (
            {"space": {"negative": {"grid": {"start": 9, "stop": 1, "step": 3}}}},
            "tune.space.negative: empty range (start 9 > stop 1)",
        ),
        ({"space": {"alpha": {"uniform": [0.1, 0.1]}}}, "empty range (low 0.1 must be < high"),
        (
            {"space": {"alpha": {"uniform": [0.0, 0.1]}}},
            "tune.space.alpha: alpha takes numbers > 0, got 0.0.",
        ),
        (
            {"space": {"window": {"int": [0, 5]}}},
            "tune.space.window: window takes whole numbers >= 1, got 0.",
        ),
        ({"space": {"window": {"int": [1.5, 5]}}}, "window takes whole numbers >= 1, got 1.5"),
        ({"space": {"window": {"range": [1, 5]}}}, "tune.space.window: give exactly one of"),
        ({"space": {"epochs": {"int": [5, 500]}}}, "tune.space.epochs = 'int[5, 500]': at most"),
        (
            {"search_alg": "optuna", "space": {"window": {"grid": [1, 2]}}},
            "optuna samples the space and cannot enumerate grids (window)",
        ),
        ({"search_alg": "hyperopt"}, "tune.search_alg = 'hyperopt': expected 'basic' or 'optuna'"),
        ({"num_samples": 0}, "tune.num_samples = 0: expected a whole number >= 1, or -1"),
        ({"num_samples": -1, "time_budget_s": None}, "tune.num_samples = -1: keep sampling needs"),
        ({"time_budget_s": -5}, "tune.time_budget_s = -5: expected a number of seconds greater"),
        ({"time_budget_s": 0}, "tune.time_budget_s = 0: expected a number of seconds greater"),
        ({"time_budget_s": "soon"}, "tune.time_budget_s = 'soon': expected a number of seconds"),
        ({"time_budget_s": True}, "tune.time_budget_s = True: expected a number of seconds"),
        ({"auto_budget": {"min_s": 0}}, "tune.auto_budget.min_s = 0: expected greater than 0"),
        ({"auto_budget": {"min_s": 90, "max_s": 30}}, "auto_budget.min_s = 90.0: at most"),
        (
            {"scheduler": {"grace_period": 99}},
            "tune.scheduler.grace_period = 99: a whole number of",
        ),
        ({"scheduler": {"kind": "pbt"}}, "tune.scheduler.kind = 'pbt': expected 'asha' or 'fifo'"),
        (
            {"scheduler": {"reduction_factor": 1}},
            "tune.scheduler.reduction_factor = 1: expected greater than 1",
        ),
        ({"fixed": {"workers": 4}}, "tune.fixed.workers is set by the search: use tune.cpus"),
        ({"fixed": {"min_cnt": 2}}, "tune.fixed: Unknown option(s) ['min_cnt']"),
        ({"fixed": {"window": 3}}, "['window'] both searched (tune.space) and fixed"),
        ({"metric": "ndcg"}, "tune.metric = 'ndcg': expected 'recall' or 'mrr'"),
        ({"cpus_per_trial": 0}, "tune.cpus_per_trial = 0: expected greater than or equal to 1"),
        ({"walltime": 5}, "tune.walltime: unknown setting"),
        ({"tpe": {"n_startup": 3}}, "Unknown tune.tpe option(s) ['n_startup']"),
        ({"points_to_evaluate": [{"window": 50}]}, "window=50 is outside tune.space.window"),
        ({"points_to_evaluate": [{"min_count": 1}]}, "sets ['min_count'], which the search"),
    ],
)
def test_bad_search_settings_name_the_setting(base, overrides, message):
    with pytest.raises(ConfigError) as error:
        settings_with(base, **overrides)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("ray", "message"),
    [
        ({"adress": "auto"}, "ray.adress: unknown setting"),
        ({"address": ""}, "ray.address = '': expected `local`, `auto`"),
        ({"address": "env:"}, "needs a variable name"),
        ({"num_cpus": 0}, "ray.num_cpus = 0: expected greater than or equal to 1"),
        ({"connect_timeout_s": 0}, "ray.connect_timeout_s = 0: expected greater than 0"),
        ({"storage_path": ""}, "ray.storage_path = ''"),
    ],
)
def test_bad_ray_settings_name_the_setting(base, ray, message):
    with pytest.raises(ConfigError) as error:
        parse_settings(base["tune"], ray)
    assert message in str(error.value)


def test_env_address_reads_the_variable_or_says_which_is_missing():
    settings = RaySettings(address="env:RAY_ADDRESS")
    assert resolve(settings, {"RAY_ADDRESS": "10.1.2.3:6379"}).value == "10.1.2.3:6379"
    with pytest.raises(ConfigError, match=r"reads the Ray address from \$RAY_ADDRESS"):
        resolve(settings, {})
    assert resolve(RaySettings(address="local"), {}).value == "local"


def test_unreachable_address_fails_within_the_timeout_naming_it():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigError, match=rf"Cannot reach the Ray cluster at 127\.0\.0\.1:{port}"):
        check_reachable(f"127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(ConfigError, match="is not host:port or ray://host:port"):
        check_reachable("my-head-node", timeout_s=2)


def test_resume_picks_among_experiments_of_exactly_this_name(tmp_path):
    for name in (
        "w2v_demo_efficient_2026-01-02_00-00-00",
        "w2v_demo_efficient_smoke_2026-03-01_00-00-00",
        "w2v_demo_efficient_2025-12-31_23-59-59",
        "w2v_demo_efficient_notes",
    ):
        (tmp_path / name).mkdir()
    (tmp_path / "w2v_demo_efficient_2026-05-01_00-00-00").write_text("a file, not a search")
    found = previous_experiments(str(tmp_path), "w2v_demo_efficient")
    assert [Path(path).name for path in found] == [
        "w2v_demo_efficient_2025-12-31_23-59-59",
        "w2v_demo_efficient_2026-01-02_00-00-00",
    ]
    assert previous_experiments(str(tmp_path / "missing"), "w2v_demo_efficient") == []


# --- results helpers on hand-built trials ------------------------------------------------


def fake_result(trial_id, config, rows, error=None):
    frame = pd.DataFrame(rows)
    frame["time_total_s"] = frame["epoch"] * 2.0
    frame["node_id"] = "node-a"
    frame["node_ip"] = "10.0.0.1"
    for column in ("loss", "train_s", "train_cpu_s", "eval_s", "setup_s"):
        frame[column] = 1.0
    return SimpleNamespace(
        metrics={"trial_id": trial_id},
        metrics_dataframe=frame,
        config=config,
        error=error,
        path=f"/tmp/x/{trial_id}",
    )


def curve(*recalls):
    return [
        {"epoch": i + 1, "val_recall_at_10": r, "val_mrr_at_10": r / 2}
        for i, r in enumerate(recalls)
    ]


@pytest.fixture
def grid_settings(base):
    space = {"window": {"choice": [2, 4, 8]}, "epochs": {"int": [2, 4]}}
    return settings_with(base, space=space, points_to_evaluate=[])


def test_trial_table_summarises_best_last_and_retries(grid_settings):
    trials = [
        fake_result("a", {"window": 2, "epochs": 3}, curve(0.1, 0.3, 0.2)),
        # Stopped by ASHA after one of four epochs.
        fake_result("b", {"window": 8, "epochs": 4}, curve(0.35)),
        # Restarted after its node died: attempt 2 ran all three epochs.
        fake_result("c", {"window": 4, "epochs": 3}, curve(0.05, 0.06) + curve(0.1, 0.2, 0.25)),
    ]
    history = results.trial_history(trials, grid_settings)
    assert history.groupby("trial_id")["attempt"].max().to_dict() == {"a": 1, "b": 1, "c": 2}
    table = results.trial_table(trials, grid_settings, history).set_index("trial_id")
    assert table.loc["a", "best_val_recall_at_10"] == 0.3
    assert table.loc["a", "last_val_recall_at_10"] == 0.2
    assert table.loc["a", "best_epoch"] == 2
    assert table.loc["b", "stopped_early"] and table.loc["b", "epochs_run"] == 1
    assert table.loc["c", "attempts"] == 2 and table.loc["c", "epochs_run"] == 3
    assert table.loc["c", "last_val_recall_at_10"] == 0.25
    assert table.loc["c", "train_s"] == 5.0  # both attempts' epochs
    assert table.loc["c", "wall_s"] == 6.0
    assert list(table.index) == ["b", "c", "a"]  # by last recall

    best = results.best_configuration(table.reset_index(), grid_settings)
    # b scores highest but stopped early; c ran all its epochs and wins.
    assert best["search"]["trial_id"] == "c"
    assert best["model"] == {
        "kind": "word2vec",
        "options": {"preset": "ff19_default", "epochs": 3, "window": 4, "seed": 0},
    }


def test_a_trial_cut_short_wins_only_when_none_finished_and_keeps_its_epochs(grid_settings):
    trials = [fake_result("b", {"window": 8, "epochs": 4}, curve(0.1, 0.35))]
    history = results.trial_history(trials, grid_settings)
    best = results.best_configuration(
        results.trial_table(trials, grid_settings, history), grid_settings
    )
    assert best["model"]["options"]["epochs"] == 2
    assert best["search"]["completed"] is False


def test_a_trial_stopped_before_its_first_epoch_is_still_counted(grid_settings):
    trials = [
        fake_result("a", {"window": 2, "epochs": 3}, curve(0.1, 0.3, 0.2)),
        SimpleNamespace(
            metrics={}, metrics_dataframe=None, config=None, error=None, path="/x/trial_b_2"
        ),
    ]
    history = results.trial_history(trials, grid_settings)
    table = results.trial_table(trials, grid_settings, history).set_index("trial_id")
    assert table["status"].to_dict() == {"a": "TERMINATED", "trial_b_2": "NO_RESULT"}
    assert table.loc["trial_b_2", "epochs_run"] == 0
    best = results.best_configuration(table.reset_index(), grid_settings)
    assert best["search"]["trial_id"] == "a"
    assert table["config/window"].dtype == float
    assert type(best["model"]["options"]["window"]) is int


def test_no_scored_trial_is_a_clear_error(grid_settings):
    trials = [fake_result("a", {"window": 2, "epochs": 3}, curve(0.1), error=RuntimeError("x"))]
    table = results.trial_table(trials, grid_settings, results.trial_history(trials, grid_settings))
    with pytest.raises(DataValidationError, match="no trial with a validation score"):
        results.best_configuration(table, grid_settings)


def test_no_trial_reporting_within_the_budget_says_to_raise_it(grid_settings):
    nothing = SimpleNamespace(
        metrics={}, metrics_dataframe=None, config=None, error=None, path="/x/trial_a_1"
    )
    history = results.trial_history([nothing], grid_settings)
    table = results.trial_table([nothing], grid_settings, history)
    assert table["status"].tolist() == ["NO_RESULT"]
    with pytest.raises(
        DataValidationError, match=r"time budget ran out \(tune.time_budget_s = auto\)"
    ):
        results.best_configuration(table, grid_settings)


def test_figures_draw_one_line_per_trial_and_one_panel_per_hyperparameter(grid_settings):
    trials = [
        fake_result("a", {"window": 2, "epochs": 3}, curve(0.1, 0.3, 0.2)),
        fake_result("b", {"window": 8, "epochs": 4}, curve(0.35)),
    ]
    history = results.trial_history(trials, grid_settings)
    table = results.trial_table(trials, grid_settings, history)
    curves = results.curves_figure(history, grid_settings)
    assert len(curves.axes[0].lines) == 2
    # Trial b's single epoch is a visible point; epochs are whole numbers on the axis.
    assert all(line.get_marker() == "o" for line in curves.axes[0].lines)
    curves.canvas.draw()
    ticks = [tick for tick in curves.axes[0].get_xticks() if 1 <= tick <= 3]
    assert ticks and all(float(tick).is_integer() for tick in ticks)
    assert curves.axes[0].get_title().startswith(f"{grid_settings.model}: 2 trials")
    chart = results.curves_chart(history, table, grid_settings)  # the interactive one
    lines = {trace.name: trace for trace in chart.data}
    assert set(lines) == {"a", "b (best)"}  # b's 0.35 beats a's last 0.2
    assert list(lines["a"].y) == pytest.approx([0.1, 0.3, 0.2])
    assert list(lines["b (best)"].x) == [1]
    assert "window = 8" in lines["b (best)"].hovertemplate
    assert chart.layout.xaxis.dtick == 1
    panels = results.parameters_figure(table, grid_settings)
    assert [a.get_xlabel() for a in panels.axes[:2]] == ["window", "epochs"]
    # The colour bar (epochs run) has whole ticks, and nothing falls outside the image.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(panels).draw()
    colour_bar = panels.axes[-1]
    assert all(float(t).is_integer() for t in colour_bar.get_yticks())
    renderer = panels.canvas.get_renderer()
    box = panels.bbox
    for axes in panels.axes:
        label = axes.xaxis.label.get_window_extent(renderer)
        assert box.x0 <= label.x0 and label.x1 <= box.x1 and label.y0 >= box.y0


@pytest.mark.parametrize(
    ("events", "seconds"),
    [(47_421, 60.0), (150_000, 150.0), (500_000, 500.0), (5_000_000, 3600.0)],
)
def test_an_auto_budget_follows_the_training_events_within_its_floor_and_ceiling(
    base, events, seconds
):
    settings = settings_with(base)
    assert settings.time_budget_s == "auto"
    assert settings.for_data(events).time_budget_s == pytest.approx(seconds)
    # A run searching three models gives each a third.
    shared = parse_settings({**base["tune"], "models": ["a", "b", "c"]}, share=3)
    assert shared.for_data(events).budget_seconds == pytest.approx(seconds / 3)


def test_a_budget_given_in_seconds_or_none_is_kept_whatever_the_data(base):
    assert settings_with(base, time_budget_s=600).for_data(47_421).time_budget_s == 600
    assert settings_with(base, preset="ff19_grid").for_data(47_421).time_budget_s is None
    scaled = settings_with(base, auto_budget={"seconds_per_1000_events": 10})
    assert scaled.for_data(47_421).time_budget_s == pytest.approx(474.21)
    assert scaled.auto_budget.min_s == 60 and scaled.auto_budget.max_s == 3600
    with pytest.raises(ValueError, match="for_data"):
        _ = settings_with(base).budget_seconds


def test_online_retail_keeps_ff19s_hour_and_the_demo_gets_auto():
    from session_recs.framework.project import load_parameters

    retail = load_parameters(ROOT / "conf", "online_retail")["tune"]
    demo = load_parameters(ROOT / "conf", "demo")["tune"]
    assert parse_settings(retail, {"address": "local"}).for_data(400_000).time_budget_s == 3600
    assert parse_settings(demo, {"address": "local"}).for_data(47_421).time_budget_s == 60
    assert parse_settings(demo, {"address": "local"}).for_data(94_842).time_budget_s == (
        pytest.approx(94.842)
    )
    # A budget on the command line wins over the dataset's block.
    retail = {**retail, "time_budget_s": 120}
    assert parse_settings(retail, {"address": "local"}).time_budget_s == 120
