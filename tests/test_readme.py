"""The README is true: its commands exist, parse, and name things the project has.

Every command in a ``bash`` block or an inline code span of README.md (``kedro ...``,
``python -m session_recs ...``, ``python benchmarks/...``, ``pip install ...``) is parsed
by the real command-line interface, without running it. Its option values that name
project things (pipelines, environments, datasets, catalog entries, models, extras) must
exist. What the commands *do* is exercised elsewhere: the default run and the pipelines
in test_project_runs, tune in tests/tune, recommend in tests/apps/test_recommend, download in
tests/data/test_download, kedro-viz in tests/ui, tracking in tests/framework/test_tracking, the
``--load-versions`` example in tests/framework/test_hardening, make-demo below.
"""

from __future__ import annotations

import json
import re
import runpy
import shlex
import sys
import textwrap
import urllib.parse
import warnings

import click
import pandas as pd
import pytest
import tomllib
import yaml

from .conftest import ROOT, run_in_process

README = (ROOT / "README.md").read_text()
PREFIXES = ("kedro ", "python -m session_recs ", "python benchmarks/", "pip install ", "pytest")


def documented_commands() -> list[str]:
    """The README's commands: ``bash`` block lines (split at ``&&``) and inline spans; and
    the project's commands in the ``bash`` blocks of the reference pages it links
    (docs/*.md, whose other tools' commands, e.g. ``ray start``, are left alone)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        commands += _block_commands(block)
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    for span in re.findall(r"`([^`\n]+)`", prose):
        # Table cells show synopses (`[--pipelines=...]`, `up|down`), not commands.
        if span.startswith(PREFIXES) and not re.search(r"\[-|\||\.\.\.|…", span):
            commands += [part.strip() for part in span.split("&&")]
    for page in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S):
            commands += [
                command
                for command in _block_commands(block)
                if re.sub(r"^(\w+=\S*\s+)+", "", command).startswith(PREFIXES)
            ]
    return sorted(set(commands))


def _block_commands(block: str) -> list[str]:
    commands = []
    for raw_line in block.splitlines():
        line = re.sub(r"\s+#.*$", "", raw_line).strip()
        if line and not line.startswith("#"):
            commands += [part.strip() for part in line.split("&&")]
    return commands


COMMANDS = documented_commands()


def readme_sources() -> set[str]:
    """The sources the README and docs/datasets.md declare as examples of "your own data"
    (the page's entries are run by test_own_data)."""
    page = (ROOT / "docs" / "datasets.md").read_text()
    section = page[page.index("**Your own data.**") :]
    blocks = [re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)]
    blocks += re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
    return {name for block in blocks for name in yaml.safe_load(textwrap.dedent(block))}


def test_the_quickstart_is_two_commands_and_ci_runs_the_second():
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    assert blocks[0].strip() == "pip install -e . && kedro run"
    assert blocks[1].strip() == 'pip install -c constraints.txt -e ".[test]" && pytest'
    ci = (ROOT / ".ci" / "run").read_text()
    # CI installs into a new virtual environment, so a missing install step fails there.
    assert re.search(r'^python3 -m venv "\$VENV"$', ci, flags=re.M)
    assert 'export PATH="$VENV/bin:$PATH"' in ci
    assert 'pip install -c constraints.txt -e ".[test]"' in ci
    assert re.search(r"^python -m pytest$", ci, flags=re.M)
    assert (
        'pip install -c constraints.txt -e ".[test,mlflow]"' in ci
        and "pytest tests/framework/test_tracking.py" in ci
    )
    assert 'pip install -c constraints.txt -e ".[test,neural]"' in ci and "pytest -m neural" in ci
    assert len(COMMANDS) >= 15  # the extraction finds the README's commands


@pytest.fixture(scope="module")
def kedro_cli() -> click.Group:
    from kedro.framework.cli.cli import KedroCLI

    return KedroCLI(project_path=ROOT)


@pytest.fixture(scope="module")
def project_names() -> dict[str, set[str]]:
    """Names the README may use: pipelines, envs, datasets, catalog entries, models."""
    from kedro.framework.project import pipelines

    from session_recs.framework.project import load_parameters

    params = load_parameters(ROOT / "conf", "demo")
    catalog = "\n".join(p.read_text() for p in (ROOT / "conf" / "base").glob("catalog*.yml"))
    return {
        "pipelines": set(pipelines),
        "envs": {p.name for p in (ROOT / "conf").iterdir() if p.is_dir()},
        # The README's entries for new sources declare more (test_own_data runs them).
        "datasets": set(yaml.safe_load(catalog)["_sources"]) | readme_sources() | {"<name>"},
        "catalog": set(re.findall(r"^([a-z_]+):", catalog, flags=re.M)),
        "tune_presets": set(params["tune"]["presets"]),
        "models": {name for name, value in params.items() if "model" in (value or {})},
        "extras": set(
            tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        ),
    }


def parse(group: click.Group, args: list[str]) -> tuple[str, dict]:
    """Resolve ``args`` down ``group``'s subcommands and parse them; raises on bad usage."""
    ctx = group.make_context(group.name or "cli", list(args))
    command: click.Command = group
    with warnings.catch_warnings():  # click 8.2 deprecates protected_args, 9 drops it
        warnings.simplefilter("ignore", DeprecationWarning)
        rest = [*ctx.protected_args, *ctx.args]
        while isinstance(command, click.Group):
            name, command, rest = command.resolve_command(ctx, rest)
            ctx = command.make_context(name, rest, parent=ctx)
            rest = [*getattr(ctx, "protected_args", []), *ctx.args]
    return command.name, ctx.params


def check_names(params: dict, names: dict[str, set[str]]) -> None:
    """Option values that name project things must name existing ones."""
    for pipeline in params.get("pipelines") or []:
        assert pipeline in names["pipelines"], pipeline
    if params.get("env"):
        assert params["env"] in names["envs"], params["env"]
    run_params = params.get("params") or {}
    if "dataset" in run_params:
        assert run_params["dataset"] in names["datasets"], run_params["dataset"]
    if "preset" in run_params.get("tune", {}):
        assert run_params["tune"]["preset"] in names["tune_presets"], run_params["tune"]
    for dataset in params.get("load_versions") or {}:
        assert dataset in names["catalog"], dataset
    if "model" in params:
        assert params["model"] in names["models"], params["model"]
    for namespace in params.get("namespaces") or []:
        assert namespace in names["models"], namespace


@pytest.mark.parametrize("command", COMMANDS)
def test_every_documented_command_parses_and_names_real_things(
    command, kedro_cli, project_names, monkeypatch, capsys
):
    tokens = shlex.split(command)
    while "=" in tokens[0]:  # an environment variable set for the command
        tokens.pop(0)
    if tokens[:3] == ["pip", "install", "torch"]:  # the CPU-only build, from PyTorch's index
        assert tokens[3:] == ["--index-url", "https://download.pytorch.org/whl/cpu"], command
    elif tokens[0] == "pip":
        extras = re.search(r"\.\[([^\]]+)\]", command)
        wanted = set(extras.group(1).split(",")) if extras else set()
        assert wanted <= project_names["extras"], command
        arguments = tokens[2:]
        if arguments[:1] == ["-c"]:  # a constraints file of the repository's
            assert (ROOT / arguments[1]).is_file(), command
            arguments = arguments[2:]
        assert tokens[1] == "install" and arguments[:1] == ["-e"], command
    elif tokens[0] == "pytest":
        paths = list(tokens[1:])
        if "-m" in paths:  # a marker expression of registered markers
            at = paths.index("-m")
            expression = paths.pop(at + 1)
            paths.pop(at)
            ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
            markers = {line.split(":")[0] for line in ini["ini_options"]["markers"]}
            for conftest in (ROOT / "tests").rglob("conftest.py"):
                markers |= set(
                    re.findall(r'addinivalue_line\("markers", "(\w+)', conftest.read_text())
                )
            words = set(re.findall(r"\w+", expression)) - {"not", "and", "or"}
            assert words <= markers, command
        assert all((ROOT / path).exists() for path in paths), command
    elif tokens[0] == "kedro":
        if tokens[1] == "mlflow":
            pytest.importorskip("kedro_mlflow", reason="the mlflow extra is not installed")
        _, params = parse(kedro_cli, tokens[1:])
        check_names(params, project_names)
    elif tokens[0] == "mlflow":  # `mlflow models serve ...`: MLflow's own CLI
        mlflow_cli = pytest.importorskip("mlflow.cli", reason="the mlflow extra is not installed")
        name, params = parse(mlflow_cli.cli, tokens[1:])
        assert name == "serve" and params["host"] == "127.0.0.1", command
    elif tokens[0] == "curl" and "-d" not in tokens:  # the service: a click of a session
        url = urllib.parse.urlsplit(f"http://{tokens[2]}")
        query = urllib.parse.parse_qs(url.query)
        assert (url.hostname, url.path) == ("127.0.0.1", "/v1/recommend"), command
        assert {"session_id", "item"} <= set(query) <= {"session_id", "item", "k"}, command
    elif tokens[0] == "curl":  # a request to the served model: its JSON body
        body = json.loads(tokens[tokens.index("-d") + 1])
        assert all(isinstance(row["items"], list) for row in body["dataframe_records"])
        assert tokens[2].startswith("127.0.0.1:") and tokens[2].endswith("/invocations")
    elif tokens[:3] == ["python", "-m", "session_recs"]:
        from session_recs.apps.cli import cli

        _, params = parse(cli, tokens[3:])
        check_names(params, project_names)
    else:
        script = ROOT / tokens[1]
        assert tokens[0] == "python" and script.is_file(), command
        # Run as `python SCRIPT ... --help` would, in this process (no interpreter start).
        monkeypatch.syspath_prepend(str(script.parent))
        monkeypatch.setattr(sys, "argv", [str(script), *tokens[2:], "--help"])
        with pytest.raises(SystemExit) as exited:
            runpy.run_path(str(script), run_name="__main__")
        printed = capsys.readouterr()
        assert exited.value.code in (0, None), printed.err[-2000:]
        assert "usage:" in printed.out
        # argparse shows --help before it reports unknown options: look them up instead.
        for option in (token.split("=")[0] for token in tokens[2:] if token.startswith("--")):
            assert option in printed.out, f"{command}: {option} is not an option"


def test_a_wrong_command_would_fail_the_check(kedro_cli, project_names):
    # The project's commands report click's usage errors in one line (a ClickException).
    with pytest.raises(click.ClickException, match="No such option '--pipeline-names'"):
        parse(kedro_cli, ["run", "--pipeline-names=split"])
    _, params = parse(kedro_cli, ["run", "--pipelines=splitt"])
    with pytest.raises(AssertionError, match="splitt"):
        check_names(params, project_names)


def test_make_demo_writes_the_table_the_demo_dataset_reads(tmp_path):
    def make_demo(*args: str):
        return run_in_process(tmp_path, "make-demo", *args)

    output = tmp_path / "raw" / "big.parquet"
    args = ("--events", "20000", "--seed", "3", "--output", str(output))
    result = make_demo(*args)
    assert result.exit_code == 0, result.output[-2000:]
    table = pd.read_parquet(output)
    assert f"Wrote {len(table):,} rows to" in result.output
    assert 19_000 <= len(table) <= 21_000
    assert {"InvoiceNo", "StockCode", "CustomerID", "InvoiceDate"} <= set(table.columns)

    again = make_demo("--events", "100", "--output", str(output))
    assert again.exit_code == 1 and again.exception is None  # handled: no traceback
    assert "Traceback" not in again.output
    assert "already exists; pass --force" in again.output
    bad = make_demo("--events", "-5", "--output", str(output), "--force")
    assert bad.exit_code == 1 and bad.exception is None
    assert "Traceback" not in bad.output
    assert "--events = -5" in bad.output
    for items, expected in (("0", "greater than or equal to 1"), ("10000000", "9000000")):
        bad = make_demo("--items", items, "--output", str(output), "--force")
        assert bad.exit_code == 1 and bad.exception is None
        assert "Traceback" not in bad.output
        assert f"--items = {items}: expected" in bad.output and expected in bad.output
    pd.testing.assert_frame_equal(pd.read_parquet(output), table)  # the old table is kept

    # A large catalogue: items beyond the five-digit codes, each code one item.
    wide = tmp_path / "raw" / "wide.parquet"
    result = make_demo("--events", "30000", "--items", "200000", "--output", str(wide))
    assert result.exit_code == 0, result.output[-2000:]
    codes = pd.read_parquet(wide)["StockCode"]
    products = codes[codes.str.fullmatch(r"\d{7}[A-E]?")]
    assert len(products) > 0.95 * len(codes) and products.nunique() > 5_000
