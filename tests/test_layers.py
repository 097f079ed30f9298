"""The package's shape: no import circles, and imports only go down the layers.

Layers, bottom up: the library (models, evaluation, metrics, data, tuning, ...: plain
modules that know nothing of Kedro's wiring), the Kedro wiring (pipelines, hooks,
settings, the config loader, the session and its run planning, tracking), and the
applications (the CLI, the CML cluster commands, ``recommend``). Imports inside
functions count; imports under ``if TYPE_CHECKING:`` (type hints only) do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import session_recs

PACKAGE = Path(session_recs.__file__).parent
WIRING = {
    "pipelines",
    "pipeline_registry",
    "settings",
    "hooks",
    "config_loader",
    "session",
    "run_plan",
    "project",
    "tracking",
}
APPLICATIONS = {"cli", "cml", "recommend", "user_errors", "__main__"}
LAYERS = {"library": 0, "wiring": 1, "applications": 2}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    top = module.split(".")[1] if "." in module else ""
    if top in APPLICATIONS:
        return "applications"
    return "wiring" if top in WIRING else "library"


def imports(path: Path) -> set[str]:
    """session_recs modules ``path`` imports at run time (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for statement in branch.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = module_name(path).split(".")
            package = base if path.name == "__init__.py" else base[:-1]
            anchor = package[: len(package) - node.level + 1]
            found.add(".".join([*anchor, *([node.module] if node.module else [])]))
    return found


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
GRAPH = {
    name: {other for other in imports(path) if other in MODULES and other != name}
    for name, path in MODULES.items()
}


def test_there_is_no_import_circle():
    graph = GRAPH
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for other in sorted(graph[node]):
            if state.get(other) == 1:
                cycles.append([*stack[stack.index(other) :], other])
            elif other not in state:
                visit(other, [*stack, other])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_imports_only_go_down_the_layers():
    upward = sorted(
        f"{name} ({layer(name)}) imports {other} ({layer(other)})"
        for name, edges in GRAPH.items()
        for other in edges
        if other != "session_recs" and LAYERS[layer(other)] > LAYERS[layer(name)]
    )
    assert upward == []


def test_the_layers_are_all_there():
    assert {layer(name) for name in MODULES} == set(LAYERS)
    assert len(MODULES) > 40  # the walk finds the package


def test_models_sit_below_evaluation_and_reporting():
    above = ("evaluation", "reporting", "profile", "sessionize", "split", "interactions")
    offending = sorted(
        f"{name} imports {other}"
        for name, edges in GRAPH.items()
        if name.startswith("session_recs.models")
        for other in edges
        if other.split(".")[1] in above
    )
    assert offending == []
