"""The files ``genrelab classify`` writes and resumes: CSV, JSON, JSON Lines and the timeline table.

One place for the serialisation of results on disk (rows <-> :class:`ClassificationResult`).

Every row carries two resume keys:

* ``run_id``: the model (name and a digest of its ``model.json``) and the options that change the
  answer (``--top-k``, ``--timeline``, ``--patches``). A rerun with other ones refuses to mix rows;
* ``file_id``: the file's real path (symlinks resolved), size and modification time. A file already
  done (through any path that leads to it) is not classified again; a changed file is.

Files are written as results come: a kill loses at most the row being written. A cut-short or
malformed row is ignored (and reported), never trusted. ``.json`` holds one result per line inside
``[`` ... ``]``; a ``.json`` cut by a kill is completed by the next run with the same ``--output``,
while ``.jsonl`` is valid at every moment.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
HEAD = ["path", "label", "score", "uncertain"]
TAIL = ["duration", "n_segments", "model", "error", "error_kind"]
#: style columns (style_1, style_score_1, ...): as many as a result can hold (genrelab.inference.styles.MAX_STYLES)
N_STYLES = 5
KEYS = ["run_id", "file_id"]
TIMELINE_HEAD = ["path", "start", "end", "label", "score"]


# --------------------------------------------------------------------------- keys
def model_id(clf: Any) -> str:
    """The model's name plus a digest of its ``model.json`` (a retrained model in the same folder differs)."""
    meta_file = Path(clf.path) / "model.json" if getattr(clf, "path", None) else None
    if meta_file is not None and meta_file.is_file():
        digest = hashlib.sha256(meta_file.read_bytes()).hexdigest()[:16]
    else:
        digest = hashlib.sha256(json.dumps(getattr(clf, "meta", {}), sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{getattr(clf, 'name', '')}@{digest}"


def run_id(model: str, **options: Any) -> str:
    blob = json.dumps({"model": model, **options}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_identity(path: str) -> tuple[str, str]:
    """``(real path, file_id)`` of ``path``; file_id is empty when the file cannot be stat'ed."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return real, ""
    blob = f"{real}\0{st.st_size}\0{st.st_mtime_ns}"
    return real, hashlib.sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()[:16]


# --------------------------------------------------------------------------- rows
def csv_fields(labels: Sequence[str], top_k: int) -> list[str]:
    ranks = [c for i in range(1, top_k + 1) for c in (f"label_{i}", f"score_{i}")]
    styles = [c for i in range(1, N_STYLES + 1) for c in (f"style_{i}", f"style_score_{i}")]
    return HEAD + ranks + styles + TAIL + [f"p_{lab}" for lab in labels] + KEYS


def _num(v: float | None, nd: int = 4) -> str:
    return "" if v is None else f"{v:.{nd}f}"


def csv_row(res: Any, labels: Sequence[str], top_k: int, keys: dict[str, str]) -> dict[str, str]:
    row = {"path": res.path, "label": res.label or "", "score": _num(res.score),
           "uncertain": "" if res.error else str(bool(res.uncertain)).lower(),
           "duration": _num(res.duration, 2), "n_segments": str(res.n_segments), "model": res.model,
           "error": res.error or "", "error_kind": res.error_kind or ""}
    for i in range(top_k):
        g, p = res.top[i] if i < len(res.top) else ("", None)
        row[f"label_{i + 1}"], row[f"score_{i + 1}"] = g, _num(p)
    styles = res.styles or []
    for i in range(N_STYLES):
        g, p = styles[i] if i < len(styles) else ("", None)
        row[f"style_{i + 1}"], row[f"style_score_{i + 1}"] = g, _num(p)
    for lab in labels:
        row[f"p_{lab}"] = _num(res.probabilities.get(lab))
    row.update(keys)
    return row


def json_row(res: Any, keys: dict[str, str]) -> dict[str, Any]:
    return {**res.to_dict(), **keys}


def result_of(row: dict[str, Any], labels: Sequence[str]) -> Any:
    """A :class:`ClassificationResult` from a row of any of the formats (raises ValueError when malformed)."""
    from genrelab.inference import result_from_dict

    if isinstance(row.get("top"), list):  # JSON
        return result_from_dict(row)
    top = []
    i = 1
    while f"label_{i}" in row:
        if row[f"label_{i}"]:
            top.append({"label": row[f"label_{i}"], "score": float(row[f"score_{i}"])})
        i += 1
    probs = {lab: float(row[f"p_{lab}"]) for lab in labels if row.get(f"p_{lab}")}
    styles = [{"label": row[f"style_{i}"], "score": float(row[f"style_score_{i}"])}
              for i in range(1, N_STYLES + 1) if row.get(f"style_{i}")]
    return result_from_dict({
        "uncertain": row.get("uncertain") == "true", "styles": styles or None,
        "path": row["path"], "top": top, "probabilities": probs,
        "duration": float(row["duration"]) if row.get("duration") else None,
        "n_segments": int(row.get("n_segments") or 0), "model": row.get("model", ""),
        "error": row.get("error") or None, "error_kind": row.get("error_kind") or None})


def timeline_rows(res: Any, labels: Sequence[str]) -> list[list[str]]:
    rows = []
    for e in res.timeline or []:
        probs = [e.probabilities[lab] for lab in labels if lab in e.probabilities]
        rows.append([res.path, f"{e.start:.3f}", f"{e.end:.3f}", e.label, f"{e.score:.4f}"]
                    + [f"{p:.4f}" for p in probs] + [""] * (len(labels) - len(probs)))
    return rows


# --------------------------------------------------------------------------- reading a previous output
@dataclass
class Previous:
    """What a previous output file holds: usable rows by file_id, and what was set aside."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    foreign: int = 0  # rows of another model / other options (or without keys)
    malformed: list[str] = field(default_factory=list)  # "line N: why"
    keyed: int = 0  # rows that carry genrelab's resume keys (of any run)
    alien: bool = False  # the file is not a genrelab classify output at all: never overwrite it

    def looks_alien(self) -> bool:
        """Not ours: a foreign layout, or nothing but garbage (a kill cuts at most the last row)."""
        return self.alien or (self.keyed == 0 and len(self.malformed) > 1)


def read_previous(path: Path, fmt: str, run: str, labels: Sequence[str], top_k: int) -> Previous:
    prev = Previous()
    if not path.exists() or path.stat().st_size == 0:
        return prev
    if fmt == "parquet":
        items = _parquet_items(path, prev)
    else:
        with path.open("rb") as fh:
            text = fh.read().decode("utf-8", "replace")
        complete = text.endswith("\n")
        items = _csv_items(text, complete, prev) if fmt == "csv" else _json_items(text, fmt, complete, prev)
    for line, row in items:
        if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not row["path"]:
            prev.malformed.append(f"line {line}: no path")
            continue
        if row.get("run_id") and row.get("file_id"):
            prev.keyed += 1
        if row.get("run_id") != run or not row.get("file_id"):
            prev.foreign += 1
            continue
        if row.get("error"):
            continue  # failures are retried
        try:
            result_of(row, labels)
        except (ValueError, TypeError, KeyError) as exc:
            prev.malformed.append(f"line {line}: {type(exc).__name__}: {exc}")
            continue
        prev.rows[row["file_id"]] = row
    return prev


def _csv_items(text: str, complete: bool, prev: Previous) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text.replace("\0", "")))
    items: list[tuple[int, dict]] = []
    try:
        fields = reader.fieldnames or []
        if "path" not in fields or "run_id" not in fields:
            prev.alien = True
            return []
        for row in reader:
            items.append((reader.line_num, row))
    except csv.Error as exc:
        prev.malformed.append(f"line {reader.line_num}: {exc}; the rest of the file is ignored")
    if items and not complete:
        prev.malformed.append(f"line {items[-1][0]}: cut short (no end of line)")
        items.pop()
    good = []
    for line, row in items:
        if None in row or any(v is None for v in row.values()):
            prev.malformed.append(f"line {line}: wrong number of cells")
        else:
            good.append((line, row))
    return good


def _parquet_items(path: Path, prev: Previous) -> list[tuple[int, dict]]:
    import pandas as pd

    try:
        table = pd.read_parquet(path).fillna("").astype(str)
    except Exception as exc:  # a cut or foreign file: pyarrow raises many types
        prev.malformed.append(f"the whole file: {type(exc).__name__}: {exc}")
        return []
    if "path" not in table.columns or "run_id" not in table.columns:
        prev.alien = True
        return []
    return [(i + 1, row) for i, row in enumerate(table.to_dict("records"))]


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    """The CSV columns as a Parquet table (strings, like the CSV), written to a temporary file then renamed."""
    import pandas as pd

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pd.DataFrame(rows).astype(str).to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_items(text: str, fmt: str, complete: bool, prev: Previous) -> list[tuple[int, Any]]:
    if fmt == "json":
        try:
            data = json.loads(text)
            if not isinstance(data, list):
                prev.alien = True
                return []
            return [(i + 2, d) for i, d in enumerate(data)]
        except ValueError:
            pass  # a file cut by a kill: read it line by line
    lines = text.split("\n")
    items = []
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if fmt == "json":
            s = s.rstrip(",")
            if s in ("[", "]", ""):
                continue
        elif not s:
            continue
        if n == len(lines) and not complete:
            prev.malformed.append(f"line {n}: cut short (no end of line)")
            continue
        try:
            items.append((n, json.loads(s)))
        except ValueError as exc:
            prev.malformed.append(f"line {n}: not JSON ({exc})")
    return items


# --------------------------------------------------------------------------- writing as results come
def _atomic(path: Path, text: str) -> None:
    from genrelab.fileio import atomic_write_text

    atomic_write_text(path, text)


class Sink:
    """An output file written row by row: the kept rows first (atomic rewrite), then one row per result."""

    def __init__(self, path: Path, fmt: str, kept: Iterable[dict[str, Any]], labels: Sequence[str], top_k: int):
        self.path, self.fmt, self.labels, self.top_k = path, fmt, list(labels), top_k
        self.fields = csv_fields(labels, top_k)
        kept = list(kept)
        buf = io.StringIO()
        if fmt == "csv":
            w = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore")
            w.writeheader()
            for row in kept:
                w.writerow({k: row.get(k, "") for k in self.fields})
        else:
            if fmt == "json":
                buf.write("[" + "".join(("\n" if i == 0 else ",\n") + json.dumps(r) for i, r in enumerate(kept)))
            else:
                buf.write("".join(json.dumps(r) + "\n" for r in kept))
        self.n = len(kept)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic(path, buf.getvalue())
        self.fh = path.open("a", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.fh, fieldnames=self.fields, extrasaction="ignore") if fmt == "csv" else None

    def add(self, res: Any, keys: dict[str, str]) -> None:
        if self.writer is not None:
            self.writer.writerow(csv_row(res, self.labels, self.top_k, keys))
        elif self.fmt == "json":
            self.fh.write(("\n" if self.n == 0 else ",\n") + json.dumps(json_row(res, keys)))
        else:
            self.fh.write(json.dumps(json_row(res, keys)) + "\n")
        self.n += 1
        self.fh.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.fh.write("\n]\n")
        self.fh.close()


class TimelineSink:
    """The long-format timeline table (one row per window), kept rows first, appended as results come."""

    def __init__(self, path: Path, labels: Sequence[str], keep_paths: set[str]):
        self.labels = list(labels)
        header = TIMELINE_HEAD + [f"p_{lab}" for lab in labels]
        kept: list[list[str]] = []
        if path.exists() and keep_paths:
            with path.open(newline="", encoding="utf-8", errors="replace") as fh:
                try:
                    kept = [r for r in csv.reader(fh) if len(r) == len(header) and r[0] in keep_paths]
                except csv.Error:
                    kept = []
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows(kept)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic(path, buf.getvalue())
        self.fh = path.open("a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.fh)

    def add(self, res: Any) -> None:
        self.writer.writerows(timeline_rows(res, self.labels))
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()
