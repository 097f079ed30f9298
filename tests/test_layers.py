"""The package's shape: the folders are the layers (README, "Layout").

The rules are import-linter contracts in pyproject.toml (``[tool.importlinter]``): imports
go down from the applications to the Kedro wiring, the pipelines and the library; the
library imports neither Kedro nor (outside ``tuning``) Ray. Imports inside functions and
under ``if TYPE_CHECKING:`` count, for the contracts and for the circles.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import session_recs

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(session_recs.__file__).parent
#: What Kedro requires at the package's root (cli: Kedro loads project commands from it).
KEDRO_ROOT = {"__init__", "__main__", "settings", "pipeline_registry", "cli"}
LAYERS = {"apps", "framework", "pipelines", "tuning", "evaluation", "models", "data", "core"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("session_recs", exclude_type_checking_imports=False)


def lint_imports(config: Path) -> subprocess.CompletedProcess:
    """import-linter's check with ``config`` (in a subprocess: it configures logging anew,
    which would silence this process's loggers)."""
    check = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(sys.argv[1], no_cache=True))"
    )
    return subprocess.run(
        [sys.executable, "-c", check, str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_import_contracts_hold():
    result = lint_imports(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 kept, 0 broken" in result.stdout


def test_the_contracts_catch_an_upward_import(tmp_path):
    """The same contracts with two layers swapped: the checker must find the imports."""
    config = (ROOT / "pyproject.toml").read_text()
    swapped = config.replace(
        '"session_recs.models | session_recs.data",\n    "session_recs.core",',
        '"session_recs.core",\n    "session_recs.models | session_recs.data",',
    )
    assert swapped != config
    (tmp_path / "pyproject.toml").write_text(swapped)
    result = lint_imports(tmp_path / "pyproject.toml")
    assert result.returncode == 1
    assert "session_recs.data.split -> session_recs.core.errors" in result.stdout


def test_there_is_no_import_circle(graph):
    circles = sorted(
        f"{module} -> {imported} -> ... -> {module}"
        for module in graph.modules
        if module.startswith("session_recs")
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith("session_recs")
        and graph.chain_exists(importer=imported, imported=module)
    )
    assert circles == []


def test_the_root_holds_only_what_kedro_requires_and_the_layers():
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert modules == KEDRO_ROOT
    assert folders == LAYERS


#: A module may not pass this many lines (STYLE.md, trait 11).
MAX_LINES = 500
#: Past this many, the module's docstring says why it is long (with the word "lines").
EXPLAINED_LINES = 400


def test_no_module_is_over_500_lines_and_each_over_400_says_why():
    too_long, unexplained = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_LINES:
            too_long.append(f"{name} ({lines} lines)")
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if lines > EXPLAINED_LINES and "lines" not in docstring:
            unexplained.append(f"{name} ({lines} lines)")
    assert too_long == [], f"modules over {MAX_LINES} lines: split them"
    assert unexplained == [], (
        f"modules over {EXPLAINED_LINES} lines must say why in their docstring"
    )
