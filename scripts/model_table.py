#!/usr/bin/env python
"""Print the model zoo's Markdown table, or rewrite it inside docs/models.md (``--write``).

    python scripts/model_table.py            # print the table
    python scripts/model_table.py --write    # update docs/models.md between its markers
    python scripts/model_table.py --check    # exit 1 when docs/models.md is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "models.md"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", type=int, default=10, help="number of classes for the parameter counts")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"update {DOC}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 when {DOC} is stale")
    args = ap.parse_args(argv)

    from genrelab.models import summary

    table = summary.markdown_table(args.classes)
    if not (args.write or args.check):
        print(table)
        return 0
    text = DOC.read_text(encoding="utf-8")
    new = summary.replace_table(text, table)
    if args.check:
        if new != text:
            print(f"{DOC} is stale: run python scripts/model_table.py --write", file=sys.stderr)
            return 1
        return 0
    if new != text:
        DOC.write_text(new, encoding="utf-8")
        print(f"updated {DOC}")
    else:
        print(f"{DOC} already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
