"""Every package the code imports is declared in pyproject.toml, with bounds, and
constraints.txt (what CI installs) pins versions inside those bounds."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: Modules of Cloudera Machine Learning's runtime, imported only when running on CML.
PROVIDED_BY_THE_PLATFORM = {"cml", "cdsw"}
#: Calendar-versioned packages: no major version to bound.
CALENDAR_VERSIONED = {"fsspec"}


def _requirements(group: str | None = None, *, here: bool = True) -> list[Requirement]:
    """The requirements of ``group`` (None: the base ones); ``here``: only those whose
    environment marker holds on this Python."""
    project = PYPROJECT["project"]
    lines = project["dependencies"] if group is None else project["optional-dependencies"][group]
    requirements = (Requirement(line) for line in lines if not line.startswith("session-recs"))
    return [r for r in requirements if not here or r.marker is None or r.marker.evaluate()]


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _imported(folder: str) -> set[str]:
    """Top-level names of the absolute imports in ``folder``'s modules."""
    names = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    local = {p.stem for p in (ROOT / folder).glob("*.py")} | {"session_recs", "tests"}
    return {n for n in names if n not in sys.stdlib_module_names and n not in local}


@pytest.mark.parametrize(
    ("folder", "groups"),
    [
        ("src", (None, "mlflow", "neural", "jupyter", "spark")),
        ("tests", (None, "test", "mlflow", "neural")),
    ],
)
def test_every_imported_package_is_declared(folder, groups):
    declared = {_name(r.name) for group in groups for r in _requirements(group, here=False)}
    # A package may come with an extra of a declared one (kedro-datasets[pandas-...]).
    distributions = importlib.metadata.packages_distributions()
    undeclared = []
    for module in sorted(_imported(folder) - PROVIDED_BY_THE_PLATFORM):
        names = {_name(d) for d in distributions.get(module, [module])}
        if not names & declared:
            undeclared.append(f"{module} ({', '.join(sorted(names))})")
    assert not undeclared, f"imported in {folder}/ but not declared: {undeclared}"


def test_every_declared_package_has_a_lower_and_an_upper_bound():
    groups = [None, *PYPROJECT["project"]["optional-dependencies"]]
    unbounded = []
    for group in groups:
        for requirement in _requirements(group):
            operators = {spec.operator for spec in requirement.specifier}
            lower = operators & {">=", "~=", "=="}
            upper = operators & {"<", "~=", "=="} or _name(requirement.name) in CALENDAR_VERSIONED
            if not (lower and upper):
                unbounded.append(f"{group or 'dependencies'}: {requirement}")
    assert not unbounded, unbounded


def test_the_constraints_pin_every_declared_package_inside_its_bounds():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_name(name)] = version.strip()
    outside, missing = [], []
    for group in (None, "test", "mlflow", "jupyter"):
        for requirement in _requirements(group):
            version = pins.get(_name(requirement.name))
            if version is None:
                missing.append(requirement.name)
            elif not requirement.specifier.contains(version, prereleases=True):
                outside.append(f"{requirement.name}=={version} (wants {requirement.specifier})")
    assert not missing, f"not pinned in constraints.txt: {missing}"
    assert not outside, f"pinned outside pyproject.toml's bounds: {outside}"
    # The pins are complete: each says one version (no ranges, no URLs).
    assert all(re.fullmatch(r"[\w.+!-]+", v) for v in pins.values()), pins
