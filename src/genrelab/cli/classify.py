"""``genrelab classify``, ``export`` and ``serve``: instant genre identification from the command line.

Heavy libraries (torch, onnxruntime, fastapi) are imported inside the commands so that start-up stays fast.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Iterable, Optional

import typer

from genrelab.cli.show import printable, shown


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    jsonl = "jsonl"
    parquet = "parquet"


class BackendChoice(str, Enum):
    auto = "auto"
    onnx = "onnx"
    torch = "torch"


# --------------------------------------------------------------------------- helpers
def collect_paths(paths: Iterable[str]) -> tuple[list[str], list[str]]:
    """Audio files to classify (folders walked recursively, sorted) and the given paths that do not exist.

    A file reached by two paths (symlink, hard link, ``a/../a``) is listed once; the temporary and backup
    files of ``tag --write`` are never listed.
    """
    from genrelab.audio import iter_audio_files
    from genrelab.tagging import is_own_file

    files: list[str] = []
    missing: list[str] = []
    seen: set = set()
    for p in paths:
        path = Path(p)
        if not path.exists():
            missing.append(str(path))
            continue
        for f in (iter_audio_files(path) if path.is_dir() else [path]):
            if is_own_file(f):
                continue
            try:
                st = os.stat(f)
                key: object = (st.st_dev, st.st_ino)
            except OSError:
                key = os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                files.append(str(f))
    return files, missing


def no_audio_exit(paths: Iterable[str], console) -> None:
    """The message and exit status (1) of a command given only folders without audio files."""
    console.print(f"[red]error:[/red] no audio files found in {', '.join(shown(p) for p in paths)}")
    raise typer.Exit(1)


def model_ref(model: str) -> str:
    """``--model``: a shipped name, a checkpoint folder, or a ``train --out`` run folder (its ``checkpoint``)."""
    p = Path(model).expanduser()
    if not (p / "model.json").exists() and (p / "checkpoint" / "model.json").exists():
        return str(p / "checkpoint")
    return model


def load_classifier(model: str, console, backend: str | None = None, **kwargs):
    """The classifier for ``--model``, or exit 2 with the reason (and the shipped names for an unknown one).

    The runtime settings are read from the environment here, once (the CLI is an edge), ``backend``
    (``--backend``, "auto" = the environment's choice) overriding ``GENRELAB_BACKEND``."""
    from genrelab.inference import Classifier
    from genrelab.runtime import Runtime
    from genrelab.types import GenrelabError

    try:
        runtime = Runtime.from_env(backend=None if backend in (None, "auto") else backend)
        return Classifier.from_pretrained(model_ref(model), runtime=runtime, **kwargs)
    except GenrelabError as exc:
        msg = str(exc)
        if "no model" in msg:
            try:
                from genrelab import pretrained

                msg += f"; shipped models: {', '.join(pretrained.names())}; or a checkpoint / train --out folder"
            except Exception:
                pass
        console.print(f"[red]error:[/red] {shown(msg)}")
        raise typer.Exit(2)


def render_table(results, top_k: int, timeline: bool, console) -> None:
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    table.add_column("file", overflow="fold")
    for i in range(top_k):
        table.add_column(f"#{i + 1}" if top_k > 1 else "genre")
    with_styles = any(r.styles for r in results)
    if with_styles:
        table.add_column("styles", overflow="fold")
    table.add_column("duration", justify="right")
    for r in results:
        if r.error:
            table.add_row(shown(r.path), f"[red]error: {shown(r.error_kind)}[/red]", *[""] * (top_k - 1),
                          *[""] * with_styles, "")
            continue
        cells = [f"{shown(g)} {p:.0%}" for g, p in r.top[:top_k]] + [""] * (top_k - len(r.top[:top_k]))
        if r.uncertain and cells:
            cells[0] = f"[yellow]{cells[0]} (uncertain)[/yellow]"
        styles = [", ".join(f"{shown(g)} {p:.0%}" for g, p in r.styles or [])] if with_styles else []
        table.add_row(shown(r.path), *cells, *styles, "" if r.duration is None else f"{r.duration:.1f} s")
    console.print(table)
    if timeline:
        for r in results:
            if r.timeline:
                console.print(f"[bold]{shown(r.path)}[/bold]")
                for e in _merge_runs(r.timeline):
                    console.print(f"  {_mmss(e[0])}-{_mmss(e[1])}  {shown(e[2]):<10} {e[3]:.0%}")


def _mmss(s: float) -> str:
    return f"{int(s // 60):d}:{s % 60:04.1f}"


def _merge_runs(entries):
    """Consecutive windows with the same genre merged into one line (mean probability)."""
    out = []
    for e in entries:
        if out and out[-1][2] == e.label and abs(out[-1][1] - e.start) < 1e-6 + 0.5 * (e.end - e.start):
            a, _, g, p, n = out[-1]
            out[-1] = (a, e.end, g, (p * n + e.score) / (n + 1), n + 1)
        else:
            out.append((e.start, e.end, e.label, e.score, 1))
    return [o[:4] for o in out]


def _write_text_atomic(path: Path, text: str) -> None:
    from genrelab.fileio import atomic_write_text

    atomic_write_text(path, text)


# --------------------------------------------------------------------------- classify
def classify_command(
    paths: list[str] = typer.Argument(..., metavar="PATHS", help="Audio files and/or folders (searched recursively)."),
    model: str = typer.Option("default", "--model", "-m", metavar="NAME|DIR",
                              help="Shipped model name, checkpoint folder, or a `train --out` run folder."),
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, metavar="K", help="How many genres to show per file."),
    fmt: Format = typer.Option(Format.table, "--format", "-f",
                               help="Output format (with --output, the file's suffix chooses csv, json, jsonl or "
                                    "parquet)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", metavar="FILE",
        help="Write results here. csv, json and jsonl files are written as results come; run again with the same "
             "file to resume (files done with this model and options are skipped; another model or other "
             "options are refused). A .json cut by a kill is completed by the next run; .jsonl is always valid. "
             ".parquet (the CSV columns) is written at the end."),
    timeline: bool = typer.Option(
        False, "--timeline", help="Classify the whole file window by window (streamed); the song's answer is then "
                                  "the genre holding the most seconds of the timeline."),
    timeline_out: Optional[Path] = typer.Option(
        None, "--timeline-out", metavar="FILE",
        help="Write the timeline as a long CSV table (path, start, end, label, score, p_<genre>...); "
             "implies --timeline."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, metavar="N", help="Parallel worker processes."),
    backend: BackendChoice = typer.Option(BackendChoice.auto, "--backend",
                                          help="auto (ONNX Runtime when possible), onnx or torch."),
    patches: Optional[int] = typer.Option(None, "--patches", min=1, metavar="N",
                                          help="Windows per track without --timeline."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    engine: str = typer.Option("local", "--engine", metavar="local|ray",
                               help="local (worker processes) or ray (Ray Data on a Ray cluster; needs "
                                    "the scale extra, pip install genrelab\\[scale]; see docs/scaling.md)."),
    address: Optional[str] = typer.Option(None, "--address", metavar="ADDRESS",
                                          help="--engine ray: 'auto' (the running cluster) or ray://HOST:PORT; "
                                               "default: a local Ray instance."),
) -> None:
    """Classify songs: top-k genres per file, optionally a timeline over the whole song."""
    from rich.console import Console

    from genrelab.cli import results_io as rio

    fmt_s = fmt.value
    if output is not None and fmt_s == "table" and output.suffix.lower() in (".csv", ".json", ".jsonl", ".parquet"):
        fmt_s = output.suffix.lower()[1:]
    if fmt_s == "parquet" and output is None:
        raise typer.BadParameter("--format parquet needs --output FILE.parquet")
    if fmt_s == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise typer.BadParameter("Parquet output needs pyarrow (pip install 'genrelab[scale]')") from None
    if engine not in ("local", "ray"):
        raise typer.BadParameter("--engine must be local or ray")
    timeline = timeline or timeline_out is not None
    err = Console(stderr=True, soft_wrap=True)  # messages carry file paths: never wrap them mid-path
    out = Console(file=sys.stdout, soft_wrap=True)
    from genrelab.inference import ClassificationResult, classify_parallel
    from genrelab.types import GenrelabError

    clf = load_classifier(model, err, backend=backend.value, n_patches=patches)
    files, missing = collect_paths(paths)
    if not files and not missing:
        no_audio_exit(paths, err)
    labels = clf.labels
    run = rio.run_id(rio.model_id(clf), top_k=top_k, timeline=timeline, patches=clf.n_patches)
    ids = {f: rio.file_identity(f)[1] for f in files}

    resumable = output is not None and fmt_s in ("csv", "json", "jsonl", "parquet")
    prev = rio.read_previous(output, fmt_s, run, labels, top_k) if resumable else rio.Previous()
    if prev.looks_alien():
        err.print(f"[red]error:[/red] {shown(output)} is not a genrelab classify output (it is left as it is); "
                  "write to another --output")
        raise typer.Exit(2)
    if prev.malformed:
        err.print(f"[yellow]ignored[/yellow] {len(prev.malformed)} malformed row(s) in {shown(output)}: "
                  + shown("; ".join(prev.malformed[:3])) + (" ..." if len(prev.malformed) > 3 else ""))
    if prev.foreign:
        err.print(f"[red]error:[/red] {shown(output)} holds {prev.foreign} result(s) made with another model or "
                  "other options (--model, --top-k, --timeline, --patches); "
                  "write to another --output, or remove that file")
        raise typer.Exit(2)
    done = {f for f in files if ids[f] and ids[f] in prev.rows}
    todo = [f for f in files if f not in done]
    todo_set = set(todo)
    kept = [row for row in prev.rows.values() if row["path"] not in todo_set]

    results: list = []
    failures: list = [ClassificationResult(path=m, error=f"{m}: missing (no such file or folder)", error_kind="missing")
                      for m in missing]
    for m in failures:
        err.print(f"[yellow]skipped[/yellow] {shown(m.error)}")
    if done and not quiet:
        err.print(f"resuming: {len(done)} file(s) already in {shown(output)}, {len(todo)} to go")

    sink = rio.Sink(output, fmt_s, kept, labels, top_k) if resumable and fmt_s != "parquet" else None
    tl_sink = rio.TimelineSink(timeline_out, labels, {r["path"] for r in kept}) if timeline_out else None

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(TextColumn("[bold]classify"), BarColumn(), MofNCompleteColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), TimeElapsedColumn(), TextColumn("{task.fields[current]}"),
                        console=err, transient=False, disable=quiet or len(todo) < 2)
    try:
        with progress:
            task = progress.add_task("classify", total=len(todo), current="")
            if engine == "ray":
                from genrelab.scale.ray_classify import classify_ray

                it = classify_ray(todo, model_ref(model), top_k=top_k, timeline=timeline, runtime=clf.runtime,
                                  n_patches=patches, classifier=clf, address=address)
            else:
                it = classify_parallel(todo, model_ref(model), workers=workers, top_k=top_k, timeline=timeline,
                                       runtime=clf.runtime, n_patches=patches, classifier=clf)
            for res in it:
                results.append(res)
                if res.error:
                    failures.append(res)
                    progress.console.print(f"[yellow]failed[/yellow] {shown(res.error)}")
                if sink is not None:
                    sink.add(res, {"run_id": run, "file_id": ids.get(res.path, "")})
                if tl_sink is not None and not res.error:
                    tl_sink.add(res)
                progress.update(task, advance=1, current=shown(Path(res.path).name[-40:]))
    except GenrelabError as exc:
        err.print(f"[red]error:[/red] {shown(exc)}")
        raise typer.Exit(2)
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted[/yellow] after {len(results)} file(s)"
                  + (f"; run again with --output {shown(output)} to resume" if resumable else ""))
        raise typer.Exit(130)
    finally:
        for s in (sink, tl_sink):
            if s is not None:
                s.close()

    order = {p: i for i, p in enumerate(files)}
    results.sort(key=lambda r: order.get(r.path, len(order)))
    previous = [rio.result_of(row, labels) for row in kept]
    every = previous + results
    if output is not None and fmt_s == "parquet":
        rio.write_parquet(output, kept + [rio.csv_row(r, labels, top_k, {"run_id": run, "file_id": ids.get(r.path, "")})
                                          for r in results])
    elif output is not None and fmt_s == "table":
        buf_console = Console(file=io.StringIO(), width=160)
        render_table(every, top_k, timeline, buf_console)
        _write_text_atomic(output, buf_console.file.getvalue())
    if output is None:
        shown_results = results + [f for f in failures if f.error_kind == "missing"]
        keys = {"run_id": run}
        if fmt_s == "table":
            render_table(shown_results, top_k, timeline, out)
        elif fmt_s == "json":
            sys.stdout.write(json.dumps([rio.json_row(r, {**keys, "file_id": ids.get(r.path, "")})
                                         for r in shown_results], indent=2) + "\n")
        elif fmt_s == "jsonl":
            for r in shown_results:
                sys.stdout.write(json.dumps(rio.json_row(r, {**keys, "file_id": ids.get(r.path, "")})) + "\n")
        else:
            w = csv.DictWriter(sys.stdout, fieldnames=rio.csv_fields(labels, top_k), extrasaction="ignore")
            w.writeheader()
            for r in shown_results:
                w.writerow(rio.csv_row(r, labels, top_k, {**keys, "file_id": ids.get(r.path, "")}))
    if not quiet:
        _summary(every, failures, err)
    n_ok = sum(1 for r in every if not r.error)
    if n_ok == 0 and (files or missing):
        raise typer.Exit(1)


def _summary(results, failures, console) -> None:
    from rich.table import Table

    counts = Counter(r.label for r in results if not r.error)
    if counts:
        t = Table(title="genres", header_style="bold")
        t.add_column("genre")
        t.add_column("files", justify="right")
        for g, n in counts.most_common():
            t.add_row(shown(g), str(n))
        console.print(t)
    n_ok = sum(counts.values())
    console.print(f"{n_ok} classified, {len(failures)} failed")
    for f in failures:
        console.print(f"  [red]{shown(f.error_kind)}[/red] {shown(f.error)}")


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
        path = resolve_model(model_ref(model))
        meta = checkpoint.read_meta(path)
    except GenrelabError as exc:
        typer.echo(f"error: {printable(exc)}", err=True)
        raise typer.Exit(2)
    if meta["model"].get("kind") == "sklearn":
        typer.echo(f"error: {printable(path)} holds a scikit-learn model; ONNX export covers PyTorch models", err=True)
        raise typer.Exit(2)
    target = Path(out or (path / "model.onnx"))
    from genrelab.export import export_onnx

    ckpt = checkpoint.load(path)
    try:
        export_onnx(ckpt.model, tuple(ckpt.contract.input_shape), target, metadata={"labels": json.dumps(ckpt.labels)})
    except GenrelabError as exc:
        typer.echo(f"error: {printable(exc)}", err=True)
        raise typer.Exit(1)
    typer.echo(f"wrote {printable(target)}")


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
    from genrelab.runtime import Runtime
    from genrelab.types import GenrelabError

    try:
        clf = Classifier.from_pretrained(model_ref(model), runtime=Runtime.from_env())  # loaded once, before the first request
    except GenrelabError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    app = create_app(model=clf, max_upload_bytes=int(max_upload_mb * 1024 * 1024), docs=docs)
    typer.echo(f"genrelab: serving {model!r} on http://{host}:{port}/  (API: /openapi.json{', /docs' if docs else ''})")
    serve(app, host, port)


def register(app: typer.Typer) -> None:
    app.command("classify")(classify_command)
    app.command("export")(export_command)
    app.command("serve")(serve_command)
