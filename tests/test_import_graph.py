"""The shape of the code base: no import cycle anywhere in ``src/genrelab``, no oversized module.

The import graph is built statically from the source (``ast``), so it sees every import, wherever it is
written: top-level imports, imports inside functions (the lazy ones that keep cold starts fast) and
``if TYPE_CHECKING:`` imports all count as edges. A lazy import only hides a cycle from the interpreter
at start-up; it is still two modules that need each other, so it counts. Edges point at modules:
``from genrelab.pkg import name`` is an edge to ``genrelab.pkg.name`` when that is a module, else to the
package ``genrelab.pkg`` (its ``__init__``). Data flows one way (audio -> features -> datasets -> models
-> training/evaluation -> experiments -> reports; inference reuses audio, features and checkpoints).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
#: "most modules 100-400 lines (none over ~600)": the hard limit, with the "~" as slack
MAX_LINES = 650


def modules(src: Path, package: str = "genrelab") -> dict[str, tuple[Path, bool]]:
    out = {}
    for f in sorted((src / package).rglob("*.py")):
        parts = list(f.relative_to(src).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return out


def import_graph(src: Path, package: str = "genrelab") -> dict[str, set[str]]:
    """``{module: modules of the package it imports}`` from every import statement of every file."""
    mods = modules(src, package)

    def owner(name: str) -> str | None:  # the longest prefix of ``name`` that is a module
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, (f, is_pkg) in mods.items():
        here = m if is_pkg else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(f))):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [owner(a.name) for a in node.names if a.name.split(".")[0] == package]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    anchor = here
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                if base.split(".")[0] != package:
                    continue
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else owner(base) for a in node.names]
            graph[m].update(t for t in targets if t and t != m)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_import_cycle_in_genrelab():
    graph = import_graph(SRC)
    assert len(graph) > 50 and "genrelab.inference.classifier" in graph
    assert "genrelab.checkpoint" in graph["genrelab.inference.classifier"]  # a lazy import is an edge too
    found = cycles(graph)
    assert not found, "import cycles (modules that import each other, directly or through others):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_cycles(tmp_path):
    """The check itself can fail: a package whose modules import each other lazily, through a relative import
    and a package ``__init__``."""
    pkg = tmp_path / "genrelab"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from genrelab.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("from .b import g\n")
    (pkg / "sub" / "b.py").write_text("import genrelab.c\n")
    (pkg / "c.py").write_text("from genrelab import a\n")
    (pkg / "d.py").write_text("from genrelab.sub import g\n")  # an attribute of the package: an edge to it
    graph = import_graph(tmp_path)
    assert graph["genrelab.d"] == {"genrelab.sub"}
    assert cycles(graph) == [["genrelab.a", "genrelab.c", "genrelab.sub.b"]]


def test_no_module_is_oversized():
    big = {str(f.relative_to(SRC)): n for f, _ in modules(SRC).values()
           if (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines (split them by concern): {big}"
