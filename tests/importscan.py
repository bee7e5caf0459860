"""The modules one Python file imports, read from its syntax tree (tests that check who imports what)."""

from __future__ import annotations

import ast
from pathlib import Path


def file_imports(path: Path) -> set[str]:
    """Module names of every ``import`` and ``from ... import`` statement in ``path``, as written (a relative
    import gives its name without the package: the package graph in ``test_import_graph`` resolves those)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out
