#!/usr/bin/env python
"""Print the numbers of a recipe's finished runs as Markdown rows for docs/reproduction.md.

    python scripts/reproduction_numbers.py runs/sears [--match 't1-*']

One row per run name, the study split and the leak-free split side by side: the headline accuracy
(the run's own level: slices for Sears, clips elsewhere) and, where the examples are segments, the
per-clip accuracy (mean of the segment probabilities) beside it; the validation accuracy when the run
has a validation part. Runs without metrics.json (not finished) are listed as such.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
from pathlib import Path


def _acc(d: dict | None) -> str:
    v = (d or {}).get("accuracy")
    return "—" if v is None else f"{v:.3f}"


def scores(run_dir: Path) -> str:
    p = run_dir / "metrics.json"
    if not p.is_file():
        return "not run" if not run_dir.exists() else "unfinished"
    m = json.loads(p.read_text())
    head = _acc(m.get("metrics"))
    levels = m.get("levels") or {}
    if m.get("level") == "segment":
        head = f"{head} / {_acc(levels.get('track'))}"  # slices / clips
    elif "segment" in levels:
        head = f"{_acc(levels.get('segment'))} / {head}"
    val = (m.get("valid") or {}).get("accuracy")
    return head + ("" if val is None else f" (val {val:.3f})")


def _natural(name: str) -> list[tuple[int, float, str]]:
    """Sort key: numbers in grid suffixes compare as numbers (ep30 < ep100, lr1e-5 < lr1e-4)."""
    parts = re.split(r"_(?:hidden_size|num_layers|blocks|ep|lr|bs|h)?", name)
    return [(0, float(t), "") if re.fullmatch(r"[0-9.]+(e-?[0-9]+)?", t) else (1, 0.0, t) for t in parts]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, help="a recipe's output folder (runs/<recipe>)")
    ap.add_argument("--match", default="*", help="glob on the run name (without the split)")
    ap.add_argument("--splits", default="study,leakfree", help="split variants, in column order")
    args = ap.parse_args(argv)
    splits = args.splits.split(",")
    names = sorted({p.name for s in splits for p in (args.runs / s).glob("*") if p.is_dir()
                    and fnmatch.fnmatch(p.name, args.match)},
                   key=_natural)
    print("| run | " + " | ".join(splits) + " |")
    print("|---|" + "---|" * len(splits))
    for name in names:
        print(f"| `{name}` | " + " | ".join(scores(args.runs / s / name) for s in splits) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
