"""`kedro viz run` on the demo project, checked through its API and in headless Chromium.

The browser is Debian's `chromium` driven by Selenium through Debian's `chromedriver`
(`.ci/run` installs both); without them the browser test is skipped with the reason.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import math
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from session_recs.pipelines.namespaces import BASELINE_MODELS, W2V_MODELS

from ...conftest import latest_version
from ...servers import loopback_server
from .conftest import SEARCH_GRID, save_artifact

pytestmark = [pytest.mark.viz, pytest.mark.slow]

PIPELINES = (
    "ingest", "sessionize", "split", "baseline", "train_w2v", "train_neural", "tune", "report"
)  # fmt: skip
LAYERS = ["raw", "intermediate", "primary", "model_input", "models", "model_output", "reporting"]
TAGS = {"data", "model", "evaluation", "report", "tune", "from_search", "neural"}
#: Task nodes every pipeline must show, by name.
TASKS = {
    "ingest": {"ingest_interactions"},
    "sessionize": {"sessionize_interactions", "build_item_catalog"},
    "split": {"split_next_event"},
    "baseline": {"fit_recommender", "evaluate_recommender"},
    "train_w2v": {"fit_recommender", "extract_training_history", "plot_learning_curve"},
    "train_neural": {"fit_recommender", "extract_training_history", "plot_learning_curve"},
    "tune": {"validate_tune_config", "run_word2vec_search", "select_best_w2v_params",
             "plot_tune_curves", "chart_tune_curves", "plot_tune_parameters"},
    "report": {"compile_model_comparison", "render_model_comparison", "chart_model_comparison"},
}  # fmt: skip
#: Table previews and their rows (metadata.kedro-viz.preview_args.nrows).
TABLES = {
    "sessions": 10,
    "train_sessions": 10,
    "test_pairs": 10,
    "most_popular.metrics": 20,
    "model_comparison": 30,
    "tune_results": math.prod(len(values) for values in SEARCH_GRID.values()),  # nrows: 30
    "tune_history": 20,
}
#: Plot previews and the file each one shows.
PLOTS = {
    "model_comparison_plot": "model_comparison.png",
    "word2vec_ff19_default.learning_curve": "word2vec_ff19_default_learning_curve.png",
    "tune_curves_plot": "tune_curves.png",
    "tune_parameters_plot": "tune_parameters.png",
}
#: Interactive (plotly) previews and the file each one shows.
CHARTS = {
    "model_comparison_chart": "model_comparison_chart.json",
    "tune_curves_chart": "tune_curves_chart.json",
}
#: The models the default pipeline fits and reports.
DEFAULT_MODELS = (*BASELINE_MODELS, *W2V_MODELS)
#: Names the default view shows: its top-level nodes and the (collapsed) model namespaces.
DEFAULT_VIEW = {
    "ingest_interactions",
    "sessionize_interactions",
    "split_next_event",
    "compile_model_comparison",
    "render_model_comparison",
    "session_knn",
    "word2vec_ff19_tuned",
}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def viz_server(project: Path, log: Path) -> contextlib.AbstractContextManager:
    """``kedro viz run`` on a free loopback port; stops its whole process group on exit."""

    def command(port: int) -> list[str]:
        viz = [sys.executable, "-m", "kedro", "viz", "run", "--no-browser"]
        return [*viz, "--host", "127.0.0.1", "--port", str(port)]

    return loopback_server(command, "/api/main", log, cwd=project)


@pytest.fixture(scope="module")
def viz_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("viz") / "viz.log"


@pytest.fixture(scope="module")
def viz_url(searched_run: Path, viz_log: Path) -> Iterator[str]:
    """One kedro-viz server on the searched demo project for this module's tests."""
    with viz_server(searched_run, viz_log) as url:
        yield url


def test_api_shows_every_pipeline_layer_tag_and_preview(searched_run, viz_url, viz_log):
    main = get_json(f"{viz_url}/api/main")
    # kedro-viz orders layers along the graph; a cycle only gets a warning in its log.
    assert "circular dependency" not in viz_log.read_text().lower()
    assert {p["id"] for p in main["pipelines"]} == {*PIPELINES, "__default__"}
    assert main["layers"] == LAYERS
    assert {tag["id"] for tag in main["tags"]} == TAGS
    graphs = {name: get_json(f"{viz_url}/api/pipelines/{name}") for name in PIPELINES}
    for name, tasks in TASKS.items():
        shown = {node["name"] for node in graphs[name]["nodes"] if node["type"] == "task"}
        assert tasks <= shown, name
    ids = {node["name"]: node["id"] for g in graphs.values() for node in g["nodes"]}
    layers = {node["name"]: node.get("layer") for g in graphs.values() for node in g["nodes"]}
    assert layers["raw_interactions"] == "raw"
    assert layers["tune_results"] == "models"  # before word2vec_search, which it chooses
    assert layers["best_w2v_params"] == "models"

    for name, rows in TABLES.items():
        meta = get_json(f"{viz_url}/api/nodes/{ids[name]}")
        assert meta["preview_type"] == "TablePreview", name
        assert len(meta["preview"]["data"]) == rows, name
    best = get_json(f"{viz_url}/api/nodes/{ids['best_w2v_params']}")
    assert best["preview_type"] == "JSONPreview"
    assert json.loads(best["preview"])["model"]["kind"] == "word2vec"
    for name, filename in PLOTS.items():
        meta = get_json(f"{viz_url}/api/nodes/{ids[name]}")
        assert meta["preview_type"] == "ImagePreview", name
        png = latest_version(searched_run / "data" / "08_reporting" / "demo" / filename)
        assert meta["preview"] == base64.b64encode(png.read_bytes()).decode(), name
    for name, filename in CHARTS.items():
        meta = get_json(f"{viz_url}/api/nodes/{ids[name]}")
        assert meta["preview_type"] == "PlotlyPreview", name
        saved = latest_version(searched_run / "data" / "08_reporting" / "demo" / filename)
        assert meta["preview"]["data"] == json.loads(saved.read_text())["data"], name
        assert meta["preview"]["data"], name  # bars / trial lines, not an empty chart


def preview_type(dataset: Any) -> str:
    """The renderer kedro-viz picks: the name of ``preview``'s return annotation."""
    annotation = inspect.signature(dataset.preview).return_annotation
    return getattr(annotation, "__name__", str(annotation))


def test_optional_dataset_previews_as_the_dataset_it_wraps(tmp_path):
    from session_recs.framework.datasets import OptionalDataset

    def optional(kind: str, name: str) -> OptionalDataset:
        return OptionalDataset({"type": kind, "filepath": str(tmp_path / name), "versioned": True})

    table = optional("pandas.ParquetDataset", "table.parquet")
    assert preview_type(table) == "TablePreview"
    assert table.preview(nrows=3) is None  # never saved: nothing to show, no error
    table.save(pd.DataFrame({"trial": range(10)}))
    assert table.preview(nrows=3) == {"index": [0, 1, 2], "columns": ["trial"],
                                      "data": [[0], [1], [2]]}  # fmt: skip
    params = optional("json.JSONDataset", "best.json")
    params.save({"window": 4})
    assert (preview_type(params), params.preview()) == ("JSONPreview", '{"window": 4}')
    # kedro-viz offers a preview only when the dataset has one.
    assert not hasattr(optional("pickle.PickleDataset", "model.pkl"), "preview")


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium through chromedriver; quit (browser and driver) afterwards."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    found = {"chromium": chromium, "chromedriver": chromedriver}
    missing = [name for name, path in found.items() if not path]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not on PATH: install Debian's chromium and "
            "chromium-driver (`apt-get install chromium chromium-driver`, as .ci/run does)"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1600,1000",
                     f"--user-data-dir={tmp_path / 'chromium-profile'}"):  # fmt: skip
        options.add_argument(argument)
    service = Service(executable_path=chromedriver, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
        assert service.process is None or service.process.poll() is not None


def wait_for(what: str, find, timeout: float = 60) -> Any:
    """Poll ``find()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not (found := find()):
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        time.sleep(0.25)
    return found


def open_graph(driver, url: str, query: str = "", theme: str = "light") -> dict[str, Any]:
    """Load kedro-viz at ``url`` (``query``: e.g. ``?pid=tune``) in ``theme`` without its
    feature tour; node name → its SVG element once the flowchart is drawn."""
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/api/main")  # the app's origin, to set its saved settings first
    settings = json.dumps({"showFeatureHints": False, "theme": theme})
    driver.execute_script(f"localStorage.setItem('KedroViz', JSON.stringify({settings}))")
    driver.get(f"{url}/{query}")
    nodes = wait_for(
        "the flowchart", lambda: driver.find_elements(By.CSS_SELECTOR, "g.pipeline-node")
    )
    for button in driver.find_elements(By.XPATH, "//button[text()='Dismiss']"):
        with contextlib.suppress(Exception):  # the new-version banner, if shown
            button.click()
    return {node.get_attribute("data-node-fullname"): node for node in nodes}


def preview_image(driver, node) -> Any:
    """Click a dataset node; the side panel's plot image once it has loaded."""
    from selenium.webdriver.common.by import By

    # SVG nodes may lie outside the viewport; a DOM click reaches d3's handler anyway.
    driver.execute_script(
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", node
    )
    return wait_for(
        "the plot preview",
        lambda: [
            image
            for image in driver.find_elements(By.CSS_SELECTOR, ".pipeline-metadata img")
            if image.get_property("complete") and image.get_property("naturalWidth")
        ],
    )[0]


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[16:24]
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")


def test_browser_shows_the_graph_and_a_plot_preview(
    searched_run, viz_url, browser, tmp_path, artifacts_dir
):
    from selenium.webdriver.common.by import By

    reporting = searched_run / "data" / "08_reporting" / "demo"
    nodes = open_graph(browser, viz_url)
    labels = {n.text for n in browser.find_elements(By.CSS_SELECTOR, "g.pipeline-node")}
    assert labels >= DEFAULT_VIEW, sorted(DEFAULT_VIEW - labels)

    image = preview_image(browser, nodes["model_comparison_plot"])
    png = latest_version(reporting / "model_comparison.png")
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    assert (image.get_property("naturalWidth"), image.get_property("naturalHeight")) == (
        png_size(png)
    )
    panel = browser.find_element(By.CSS_SELECTOR, ".pipeline-metadata__title")
    assert panel.text == "model_comparison_plot"
    shot = tmp_path / "kedro-viz-model-comparison.png"
    assert browser.save_screenshot(str(shot))
    save_artifact(shot, artifacts_dir)

    # The tune pipeline, chosen by URL, with its own plot previews.
    nodes = open_graph(browser, viz_url, "?pid=tune")
    assert TASKS["tune"] <= set(nodes), sorted(nodes)
    image = preview_image(browser, nodes["tune_curves_plot"])
    png = latest_version(reporting / "tune_curves.png")
    assert (image.get_property("naturalWidth"), image.get_property("naturalHeight")) == (
        png_size(png)
    )
    shot = tmp_path / "kedro-viz-tune.png"
    assert browser.save_screenshot(str(shot))
    save_artifact(shot, artifacts_dir)


#: What the interactive chart's preview draws, read from the page: each bar's fill (a
#: hatched bar's from its pattern), each error bar's stroke, the plot's background and every
#: text's box on the page.
CHART_LOOK = """
const svg = document.querySelector('.pipeline-metadata .pipeline-plotly-chart .main-svg');
const root = svg.parentNode;
const fill = (element) => {
  const value = getComputedStyle(element).fill;
  const id = (value.match(/url\\("?(#[^")]+)"?\\)/) || [])[1];
  // A hatched bar fills with a pattern: its background rect holds the bar's colour.
  const base = id && root.querySelector(`${id} rect`);
  return base ? getComputedStyle(base).fill : value;
};
return {
  bars: [...root.querySelectorAll('g.trace.bars g.point path')].map(fill),
  errors: [...root.querySelectorAll('g.errorbar path')].map(p => getComputedStyle(p).stroke),
  background: svg.style.background || getComputedStyle(svg).backgroundColor,
  texts: [...root.querySelectorAll('text')].filter(t => t.textContent.trim())
    .map(t => [t.textContent, ...Object.values(t.getBoundingClientRect().toJSON())]),
};
"""


def rgb(css: str) -> tuple[float, ...]:
    """``rgb(r, g, b)`` → its channels in [0, 1]."""
    return tuple(int(v) / 255 for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


def luminance(colour: tuple[float, ...]) -> float:
    """WCAG's relative luminance."""
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in colour]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, two: str) -> float:
    """WCAG's contrast ratio of two CSS colours (1 to 21)."""
    low, high = sorted((luminance(rgb(one)), luminance(rgb(two))))
    return (high + 0.05) / (low + 0.05)


def overlapping(texts: list[list[Any]]) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes on the page overlap (by more than half a pixel)."""
    boxes = [(t[0], t[5], t[6], t[7], t[8]) for t in texts if t[3] > 0]  # left, top, right, bottom
    return [
        (a[0], b[0])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if min(a[3], b[3]) - max(a[1], b[1]) > 0.5 and min(a[4], b[4]) - max(a[2], b[2]) > 0.5
    ]


def test_the_comparison_chart_reads_on_the_light_and_the_dark_theme(
    searched_run, viz_url, browser, tmp_path, artifacts_dir
):
    """model_comparison_chart's preview, in the light theme and after switching to the dark:
    error bars that stand out from the background, no near-black bar, no text over another.
    The screenshots are docs/images/kedro-viz-default.png and kedro-viz-dark.png."""
    from selenium.webdriver.common.by import By

    from session_recs.evaluation.palette import OKABE_ITO

    nodes = open_graph(browser, viz_url, theme="light")
    browser.execute_script(
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))",
        nodes["model_comparison_chart"],
    )
    chart = ".pipeline-metadata .pipeline-plotly-chart .main-svg"
    wait_for("the chart preview", lambda: browser.find_elements(By.CSS_SELECTOR, chart))
    palette = {tuple(int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)) for c in OKABE_ITO}
    for theme, background in (("light", "rgb(238, 238, 238)"), ("dark", "rgb(17, 17, 17)")):
        if theme == "dark":  # the toolbar's theme button, as a user switches
            browser.find_element(
                By.CSS_SELECTOR, "[data-test='global-toolbar-theme-btn-light']"
            ).click()
        look = wait_for(
            f"the chart on the {theme} theme",
            lambda bg=background: (
                (found := browser.execute_script(CHART_LOOK))["background"] == bg and found
            ),
        )
        models = len(DEFAULT_MODELS)
        assert len(look["bars"]) == len(look["errors"]) == 2 * models, theme  # two panels
        assert {rgb(fill) for fill in look["bars"]} <= palette, theme
        assert min(luminance(rgb(fill)) for fill in look["bars"]) > 0.1, theme  # no black
        assert min(contrast(stroke, background) for stroke in look["errors"]) >= 3, theme
        names = [t[0] for t in look["texts"]]
        assert set(DEFAULT_MODELS) <= set(names), theme  # every model named once
        assert overlapping(look["texts"]) == [], theme
        shot = tmp_path / f"kedro-viz-{'default' if theme == 'light' else theme}.png"
        assert browser.save_screenshot(str(shot))
        save_artifact(shot, artifacts_dir)


def test_build_writes_a_static_site_with_previews(searched_run):
    """``kedro viz build --include-previews``: the shareable copy documented in
    docs/kedro-viz.md, API answers and previews included."""
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build", "--include-previews"],
        cwd=searched_run,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    build = searched_run / "build"
    assert (build / "index.html").exists()
    main = json.loads((build / "api" / "main").read_text())
    assert main["layers"] == LAYERS
    ids = {node["name"]: node["id"] for node in main["nodes"]}
    plot = json.loads((build / "api" / "nodes" / ids["model_comparison_plot"]).read_text())
    png = latest_version(searched_run / "data" / "08_reporting" / "demo" / "model_comparison.png")
    assert plot["preview"] == base64.b64encode(png.read_bytes()).decode()
