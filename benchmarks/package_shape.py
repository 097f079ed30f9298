"""The package's shape: modules, import arrows, the longest chain of imports, circles, and
the largest modules (issue 25's numbers). Built with grimp, import-linter's graph library;
imports inside functions and under ``if TYPE_CHECKING:`` count.

    python benchmarks/package_shape.py              # the installed session_recs
    PYTHONPATH=<other checkout>/src python benchmarks/package_shape.py   # another version
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import grimp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="session_recs")
    parser.add_argument("--largest", type=int, default=10)
    args = parser.parse_args()
    graph = grimp.build_graph(args.package, exclude_type_checking_imports=False)
    modules = sorted(m for m in graph.modules if m.split(".")[0] == args.package)
    arrows = {
        m: {
            other
            for other in graph.find_modules_directly_imported_by(m)
            if other.split(".")[0] == args.package
        }
        for m in modules
    }
    circles = sorted(
        (m, other)
        for m, targets in arrows.items()
        for other in targets
        if graph.chain_exists(importer=other, imported=m)
    )
    sys.setrecursionlimit(10_000)

    @functools.cache
    def longest(module: str) -> tuple[str, ...]:
        """The longest import chain from ``module`` (acyclic graphs only)."""
        best: tuple[str, ...] = ()
        for other in arrows[module]:
            chain = longest(other)
            if len(chain) > len(best):
                best = chain
        return (module, *best)

    package = Path(__import__(args.package).__file__).parent
    files = {
        str(path.relative_to(package.parent)): len(path.read_text().splitlines())
        for path in package.rglob("*.py")
    }
    root = sorted(p.stem for p in package.glob("*.py"))
    print(f"package: {package}")
    print(f"modules (files): {len(files)}; root modules: {len(root)} ({', '.join(root)})")
    print(f"import arrows inside the package: {sum(map(len, arrows.values()))}")
    print(f"import circles (arrows that close one): {len(circles)}")
    for m, other in circles[:10]:
        print(f"  {m} -> {other} -> ... -> {m}")
    if not circles:
        chain = max((longest(m) for m in modules), key=len)
        print(f"longest chain of imports: {len(chain) - 1} arrows: {' -> '.join(chain)}")
    over = {name: n for name, n in files.items() if n > 500}
    print(f"modules over 500 lines: {len(over)}; over 400: {sum(n > 400 for n in files.values())}")
    print(f"largest {args.largest}:")
    for name, n in sorted(files.items(), key=lambda kv: -kv[1])[: args.largest]:
        print(f"  {n:5d}  {name}")


if __name__ == "__main__":
    main()
