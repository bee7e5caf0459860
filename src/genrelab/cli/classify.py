"""``genrelab classify``, ``tag``, ``export`` and ``serve``: instant genre identification from the command line.

Heavy libraries (torch, onnxruntime, fastapi) are imported inside the commands so that start-up stays fast.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional

import typer

FORMATS = ("table", "csv", "json", "parquet")
CSV_FIELDS = ["path", "genre", "confidence", "top", "duration", "n_segments", "model", "error", "error_kind"]


# --------------------------------------------------------------------------- helpers
def collect_paths(paths: Iterable[str]) -> tuple[list[str], list[str]]:
    """Audio files to classify (folders walked recursively, sorted) and the given paths that do not exist."""
    from genrelab.audio import iter_audio_files

    files: list[str] = []
    missing: list[str] = []
    seen: set[str] = set()
    for p in paths:
        path = Path(p)
        if not path.exists():
            missing.append(str(path))
            continue
        for f in (iter_audio_files(path) if path.is_dir() else [path]):
            key = str(f)
            if key not in seen:
                seen.add(key)
                files.append(key)
    return files, missing


def _top_str(res) -> str:
    return ";".join(f"{g}:{p:.4f}" for g, p in res.top)


def _timeline_str(res) -> str:
    if not res.timeline:
        return ""
    return "|".join(f"{e.start_s:.2f}-{e.end_s:.2f}:{e.genre}:{e.prob:.3f}" for e in res.timeline)


def csv_row(res, labels: list[str], timeline: bool) -> dict[str, str]:
    row = {
        "path": res.path,
        "genre": res.genre or "",
        "confidence": "" if res.confidence is None else f"{res.confidence:.4f}",
        "top": _top_str(res),
        "duration": "" if res.duration is None else f"{res.duration:.2f}",
        "n_segments": str(res.n_segments),
        "model": res.model,
        "error": res.error or "",
        "error_kind": res.error_kind or "",
    }
    for lab in labels:
        v = res.probabilities.get(lab)
        row[f"p_{lab}"] = "" if v is None else f"{v:.4f}"
    if timeline:
        row["timeline"] = _timeline_str(res)
    return row


def csv_fields(labels: list[str], timeline: bool) -> list[str]:
    return CSV_FIELDS + [f"p_{lab}" for lab in labels] + (["timeline"] if timeline else [])


def read_done(output: Path, fmt: str) -> dict[str, dict]:
    """Rows already in a previous ``--output`` file, by path (only successful ones count as done)."""
    if not output.exists() or output.stat().st_size == 0:
        return {}
    done: dict[str, dict] = {}
    try:
        if fmt == "csv":
            with output.open(newline="") as f:
                for row in csv.DictReader(f):
                    if row.get("path") and not row.get("error"):
                        done[row["path"]] = row
        elif fmt == "json":
            for d in json.loads(output.read_text()):
                if d.get("path") and not d.get("error"):
                    done[d["path"]] = d
        elif fmt == "parquet":
            import pandas as pd

            for row in pd.read_parquet(output).fillna("").astype(str).to_dict("records"):
                if row.get("path") and not row.get("error"):
                    done[row["path"]] = row
    except (OSError, ValueError, csv.Error, ImportError) as exc:
        raise typer.BadParameter(f"cannot resume from {output}: {exc}") from None
    return done


def render_table(results, top_k: int, timeline: bool, console) -> None:
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    table.add_column("file", overflow="fold")
    for i in range(top_k):
        table.add_column(f"#{i + 1}" if top_k > 1 else "genre")
    table.add_column("duration", justify="right")
    for r in results:
        if r.error:
            table.add_row(r.path, f"[red]error: {r.error_kind}[/red]", *[""] * (top_k - 1), "")
            continue
        cells = [f"{g} {p:.0%}" for g, p in r.top[:top_k]] + [""] * (top_k - len(r.top[:top_k]))
        table.add_row(r.path, *cells, "" if r.duration is None else f"{r.duration:.1f} s")
    console.print(table)
    if timeline:
        for r in results:
            if r.timeline:
                console.print(f"[bold]{r.path}[/bold]")
                for e in _merge_runs(r.timeline):
                    console.print(f"  {_mmss(e[0])}-{_mmss(e[1])}  {e[2]:<10} {e[3]:.0%}")


def _mmss(s: float) -> str:
    return f"{int(s // 60):d}:{s % 60:04.1f}"


def _merge_runs(entries):
    """Consecutive windows with the same genre merged into one line (mean probability)."""
    out = []
    for e in entries:
        if out and out[-1][2] == e.genre and abs(out[-1][1] - e.start_s) < 1e-6 + 0.5 * (e.end_s - e.start_s):
            a, _, g, p, n = out[-1]
            out[-1] = (a, e.end_s, g, (p * n + e.prob) / (n + 1), n + 1)
        else:
            out.append((e.start_s, e.end_s, e.genre, e.prob, 1))
    return [o[:4] for o in out]


def _write_text_atomic(path: Path, text: str) -> None:
    from genrelab.checkpoint import atomic_write_text

    atomic_write_text(path, text)


# --------------------------------------------------------------------------- classify
def classify_command(
    paths: list[str] = typer.Argument(..., help="Audio files and/or folders (searched recursively)."),
    model: str = typer.Option("default", "--model", "-m", help="Shipped model name or checkpoint folder."),
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, help="How many genres to show per file."),
    fmt: str = typer.Option("table", "--format", "-f", help="Output format: table, csv or json."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write results here (csv/json: resumable)."),
    timeline: bool = typer.Option(False, "--timeline", help="Classify the whole file window by window (streamed)."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Parallel worker processes."),
    backend: str = typer.Option("auto", "--backend", help="auto (ONNX Runtime when possible), onnx or torch."),
    patches: Optional[int] = typer.Option(None, "--patches", min=1, help="Windows per track without --timeline."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    engine: str = typer.Option("local", "--engine", help="local (worker processes) or ray (Ray Data on a Ray "
                                                          "cluster; needs genrelab[scale]; see docs/scaling.md)."),
    address: Optional[str] = typer.Option(None, "--address", help="--engine ray: 'auto' (the running cluster) or "
                                                                   "ray://HOST:PORT; default: a local Ray instance."),
) -> None:
    """Classify songs: top-k genres per file, optionally a timeline over the whole song."""
    from rich.console import Console

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    if output is not None and fmt == "table" and output.suffix.lower() in (".csv", ".json", ".parquet"):
        fmt = output.suffix.lower()[1:]
    if fmt == "parquet" and output is None:
        raise typer.BadParameter("--format parquet needs --output FILE.parquet")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise typer.BadParameter("Parquet output needs pyarrow (pip install 'genrelab[scale]')") from None
    if engine not in ("local", "ray"):
        raise typer.BadParameter("--engine must be local or ray")
    err = Console(stderr=True, soft_wrap=True)  # messages carry file paths: never wrap them mid-path
    out = Console(file=sys.stdout, soft_wrap=True)
    from genrelab.inference import Classifier, classify_parallel, result_from_dict
    from genrelab.types import GenrelabError

    files, missing = collect_paths(paths)
    try:
        clf = Classifier.from_checkpoint(model, backend=backend, n_patches=patches)
    except GenrelabError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    labels = clf.labels
    done = read_done(output, fmt) if output is not None and fmt in ("csv", "json", "parquet") else {}
    todo = [f for f in files if f not in done]
    from genrelab.inference import ClassificationResult

    results: list = []
    failures: list = [ClassificationResult(path=m, error=f"{m}: missing (no such file or folder)", error_kind="missing")
                      for m in missing]
    for m in failures:
        err.print(f"[yellow]skipped[/yellow] {m.error}")
    if done and not quiet:
        err.print(f"resuming: {len(done)} file(s) already in {output}, {len(todo)} to go")

    csv_file = writer = None
    if output is not None and fmt == "csv":
        fields = csv_fields(labels, timeline)
        # keep the finished rows, drop old failures (they are retried), then append as results come
        kept = list(done.values())
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for row in kept:
            w.writerow({k: row.get(k, "") for k in fields})
        _write_text_atomic(output, buf.getvalue())
        csv_file = output.open("a", newline="")
        writer = csv.DictWriter(csv_file, fieldnames=fields, extrasaction="ignore")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(TextColumn("[bold]classify"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), TimeElapsedColumn(), TextColumn("{task.fields[current]}"),
                        console=err, transient=False, disable=quiet or len(todo) < 2)
    try:
        with progress:
            task = progress.add_task("classify", total=len(todo), current="")
            if engine == "ray":
                from genrelab.scale.ray_classify import classify_ray

                it = classify_ray(todo, model, top_k=top_k, timeline=timeline, backend=backend, n_patches=patches,
                                  classifier=clf, address=address)
            else:
                it = classify_parallel(todo, model, workers=workers, top_k=top_k, timeline=timeline,
                                       backend=backend, n_patches=patches, classifier=clf)
            for res in it:
                results.append(res)
                if res.error:
                    failures.append(res)
                    progress.console.print(f"[yellow]failed[/yellow] {res.error}")
                if writer is not None:
                    writer.writerow(csv_row(res, labels, timeline))
                    csv_file.flush()
                progress.update(task, advance=1, current=Path(res.path).name[-40:])
    except GenrelabError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted[/yellow] after {len(results)} file(s)"
                  + (f"; run again with --output {output} to resume" if output else ""))
        raise typer.Exit(130)
    finally:
        if csv_file is not None:
            csv_file.close()

    order = {p: i for i, p in enumerate(files)}
    results.sort(key=lambda r: order.get(r.path, len(order)))
    previous = [result_from_dict(_row_to_dict(d, labels)) for d in done.values()]
    every = previous + results
    if output is not None and fmt == "json":
        _write_text_atomic(output, json.dumps([r.to_dict() for r in every], indent=2))
    elif output is not None and fmt == "parquet":
        _write_parquet_atomic(output, [csv_row(r, labels, timeline) for r in every])
    elif output is not None and fmt == "table":
        buf_console = Console(file=io.StringIO(), width=160)
        render_table(every, top_k, timeline, buf_console)
        _write_text_atomic(output, buf_console.file.getvalue())
    if output is None:
        shown = results + [f for f in failures if f.error_kind == "missing"]
        if fmt == "table":
            render_table(shown, top_k, timeline, out)
        elif fmt == "json":
            sys.stdout.write(json.dumps([r.to_dict() for r in shown], indent=2) + "\n")
        else:
            w = csv.DictWriter(sys.stdout, fieldnames=csv_fields(labels, timeline), extrasaction="ignore")
            w.writeheader()
            for r in shown:
                w.writerow(csv_row(r, labels, timeline))
    if not quiet:
        _summary(every, failures, err)
    n_ok = sum(1 for r in every if not r.error)
    if n_ok == 0 and (files or missing):
        raise typer.Exit(1)


def _write_parquet_atomic(path: Path, rows: list[dict]) -> None:
    """The CSV columns as a Parquet table (strings, like the CSV), written to a temporary file then renamed."""
    import pandas as pd

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pd.DataFrame(rows).to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _row_to_dict(d: dict, labels: list[str]) -> dict:
    """A resumed row (CSV strings or JSON dict) as ``ClassificationResult.to_dict`` data."""
    if "top" in d and isinstance(d["top"], list):
        return d
    top = []
    for part in (d.get("top") or "").split(";"):
        if ":" in part:
            g, p = part.rsplit(":", 1)
            top.append({"genre": g, "probability": float(p)})
    probs = {lab: float(d[f"p_{lab}"]) for lab in labels if d.get(f"p_{lab}")}
    return {"path": d["path"], "top": top, "probabilities": probs,
            "duration": float(d["duration"]) if d.get("duration") else None,
            "n_segments": int(d.get("n_segments") or 0), "model": d.get("model", ""),
            "error": d.get("error") or None, "error_kind": d.get("error_kind") or None}


def _summary(results, failures, console) -> None:
    from rich.table import Table

    counts = Counter(r.genre for r in results if not r.error)
    if counts:
        t = Table(title="genres", header_style="bold")
        t.add_column("genre")
        t.add_column("files", justify="right")
        for g, n in counts.most_common():
            t.add_row(g, str(n))
        console.print(t)
    n_ok = sum(counts.values())
    console.print(f"{n_ok} classified, {len(failures)} failed")
    for f in failures:
        console.print(f"  [red]{f.error_kind}[/red] {f.error}")


# --------------------------------------------------------------------------- tag
def tag_command(
    paths: list[str] = typer.Argument(..., help="Audio files and/or folders (searched recursively)."),
    write: bool = typer.Option(False, "--write", help="Apply the changes (default: dry run, print the plan)."),
    only_empty: bool = typer.Option(False, "--only-empty", help="Leave files that already have a genre tag."),
    model: str = typer.Option("default", "--model", "-m", help="Shipped model name or checkpoint folder."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", help="Skip files whose top genre is less sure."),
    capitalize: bool = typer.Option(True, "--capitalize/--lowercase", help="Write 'Hip-Hop' style names or raw labels."),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
) -> None:
    """Write the predicted genre into the files' own tags (ID3 TCON, Vorbis GENRE, MP4 ©gen). Dry run by default."""
    from rich.console import Console

    from genrelab import tagging
    from genrelab.inference import Classifier, classify_parallel
    from genrelab.types import GenrelabError

    err = Console(stderr=True, soft_wrap=True)  # messages carry file paths: never wrap them mid-path
    out = Console(soft_wrap=True)
    files, missing = collect_paths(paths)
    for m in missing:
        err.print(f"[yellow]skipped[/yellow] {m}: missing")
    taggable = [f for f in files if tagging.supported(f)]
    for f in files:
        if not tagging.supported(f):
            err.print(f"[yellow]skipped[/yellow] {f}: {Path(f).suffix or 'this'} files cannot hold a genre tag")
    candidates = []
    for f in taggable:
        try:
            current = tagging.read_genre(f)
        except tagging.TagError as exc:
            err.print(f"[yellow]skipped[/yellow] {exc}")
            continue
        if only_empty and current:
            out.print(f"keep     {f}: already '{current}'")
            continue
        candidates.append((f, current))
    if not candidates:
        err.print("nothing to tag")
        return
    try:
        clf = Classifier.from_checkpoint(model)
    except GenrelabError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    current_of = dict(candidates)
    n_changed = n_failed = 0
    for res in classify_parallel([c for c, _ in candidates], model, workers=workers, top_k=1, classifier=clf):
        if res.error:
            n_failed += 1
            err.print(f"[yellow]failed[/yellow] {res.error}")
            continue
        genre = tagging.display_name(res.genre) if capitalize else res.genre
        cur = current_of.get(res.path)
        if res.confidence is not None and res.confidence < min_confidence:
            out.print(f"unsure   {res.path}: {res.genre} {res.confidence:.0%} < {min_confidence:.0%}, left as is")
            continue
        if cur == genre:
            out.print(f"same     {res.path}: '{genre}'")
            continue
        verb = "write" if write else "would set"
        if write:
            try:
                tagging.write_genre(res.path, genre)
            except tagging.TagError as exc:
                n_failed += 1
                err.print(f"[red]failed[/red] {exc}")
                continue
        n_changed += 1
        out.print(f"{verb:<9}{res.path}: '{cur or ''}' -> '{genre}' ({res.confidence:.0%})")
    action = "changed" if write else "would change (dry run; add --write to apply)"
    err.print(f"{n_changed} file(s) {action}, {n_failed} failed")


# --------------------------------------------------------------------------- export
def export_command(
    model: str = typer.Argument(..., help="Shipped model name or checkpoint folder."),
    onnx: bool = typer.Option(False, "--onnx", help="Export to ONNX (the only format so far)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output .onnx file (default: next to the checkpoint)."),
) -> None:
    """Export a trained model (PyTorch) for ONNX Runtime; checks ONNX and PyTorch agree on random input."""
    if not onnx:
        raise typer.BadParameter("say which format: --onnx")
    from genrelab import checkpoint
    from genrelab.inference import resolve_model
    from genrelab.types import GenrelabError

    try:
        path = resolve_model(model)
        meta = checkpoint.read_meta(path)
    except GenrelabError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if meta["model"].get("kind") == "sklearn":
        typer.echo(f"error: {path} holds a scikit-learn model; ONNX export covers PyTorch models", err=True)
        raise typer.Exit(2)
    target = Path(out or (path / "model.onnx"))
    from genrelab.inference import _export_onnx_file

    _export_onnx_file(checkpoint.load(path), target)
    typer.echo(f"wrote {target}")


# --------------------------------------------------------------------------- serve
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    model: str = typer.Option("default", "--model", "-m", help="Shipped model name or checkpoint folder."),
    max_upload_mb: float = typer.Option(50.0, "--max-upload-mb", help="Largest accepted upload (413 above)."),
    docs: bool = typer.Option(False, "--docs", help="Also serve the interactive /docs page (loads assets from a CDN)."),
) -> None:
    """Serve the web page and the JSON API (POST /api/classify) for one model."""
    try:
        from genrelab.web import create_app
        from genrelab.web.app import serve
    except ImportError as exc:
        typer.echo(f"error: the web app needs the 'web' extra (pip install 'genrelab[web]'): {exc}", err=True)
        raise typer.Exit(2)
    from genrelab.inference import Classifier
    from genrelab.types import GenrelabError

    try:
        clf = Classifier.from_checkpoint(model)  # loaded once, before the first request
    except GenrelabError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    app = create_app(model=clf, max_upload_bytes=int(max_upload_mb * 1024 * 1024), docs=docs)
    typer.echo(f"genrelab: serving {model!r} on http://{host}:{port}/  (API: /openapi.json{', /docs' if docs else ''})")
    serve(app, host, port)


def register(app: typer.Typer) -> None:
    app.command("classify")(classify_command)
    app.command("tag")(tag_command)
    app.command("export")(export_command)
    app.command("serve")(serve_command)
