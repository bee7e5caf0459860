"""``genrelab features ...``: compute and cache features, export Kaggle-style CSVs, list presets.

- ``features extract --dataset KIND --root DIR --feature NAME_OR_JSON --out DIR [--workers N]``:
  compute a whole dataset's features into the feature cache (parallel, progress bar, resumable,
  atomic writes, validated entries: zero-byte, truncated or corrupt entries are recomputed; failures
  reported and skipped).
- ``features export-csv ROOT --out features_30_sec.csv [--segments 3] [--max-seconds 60]``: the 57 GTZAN
  features of every audio file under ROOT in exactly the Kaggle layout (``filename,length,<57>,label``),
  of at most the first 60 s of each file (bounded memory); failing files are reported, the rest written.
- ``features list``: the named feature presets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

from genrelab.cli.show import shown
from genrelab.runtime import Runtime

features_app = typer.Typer(help="Features: extract into the cache, export Kaggle-style CSVs, list presets.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(features_app, name="features")


def _console():
    from rich.console import Console

    return Console()


def _workers(n: int) -> int:
    return n if n > 0 else max(1, os.cpu_count() or 1)


def _load_index(kind: str, root: Path):
    """The dataset index; loaders that can skip probing do so (undecodable files are then reported
    by the extraction itself instead of being dropped silently by the index)."""
    from genrelab.datasets import load_dataset

    try:
        return load_dataset(kind, root, probe=False)
    except TypeError:
        return load_dataset(kind, root)


@features_app.command("extract")
def extract(
    root: Path = typer.Option(..., "--root", help="Dataset folder."),
    feature: str = typer.Option(..., "--feature", "-f",
                                help="A preset name (see 'genrelab features list'), a JSON spec or a .json file."),
    out: Path = typer.Option(..., "--out", "-o", help="Feature cache folder."),
    dataset: str = typer.Option("auto", "--dataset", "-d", help="Dataset kind: auto, gtzan, fma, folder."),
    workers: int = typer.Option(0, "--workers", "-j", help="Worker processes (0: one per CPU core)."),
    augment: bool = typer.Option(False, "--augment",
                                 help="Also cache Liu et al.'s variants (pitch +-1, tempo 0.93/1.07) of training "
                                      "tracks (tracks whose split is train or unset)."),
    verify: bool = typer.Option(False, "--verify",
                                help="Check the checksum of every existing entry (reads them all); by default "
                                     "only their header and size are checked. Broken entries are recomputed."),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Write the run report as JSON here."),
    strict: bool = typer.Option(False, "--strict", help="Exit with status 1 when any track failed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    engine: str = typer.Option("local", "--engine", help="local (worker processes) or ray (Ray tasks on a Ray "
                                                          "cluster; needs the scale extra, pip install "
                                                          "genrelab\\[scale]; see docs/scaling.md)."),
    address: Optional[str] = typer.Option(None, "--address", help="--engine ray: 'auto' (the running cluster) or "
                                                                   "ray://HOST:PORT; default: a local Ray instance."),
) -> None:
    """Compute the features of every track of a dataset once (resumable; finished tracks are skipped)."""
    from genrelab.features.cache import FeatureCache
    from genrelab.features.presets import parse_spec
    from genrelab.types import GenrelabError

    console = _console()
    try:
        spec = parse_spec(feature)
        index = _load_index(dataset, root)
    except GenrelabError as exc:
        console.print(f"[red]error:[/red] {shown(exc)}")
        raise typer.Exit(2) from None
    tracks = [t for t in index.tracks if t.path is not None]
    if augment:
        from genrelab.features.augment import expand_training_set

        train = [t for t in tracks if (t.split or "train") in ("train", "training")]
        rest = [t for t in tracks if (t.split or "train") not in ("train", "training")]
        tracks = expand_training_set(train) + rest
    skipped = sum(getattr(index, "skipped", {}).values()) if getattr(index, "skipped", None) else 0
    console.print(f"{len(tracks)} tracks from {shown(root)} ({dataset}); feature {spec.feature.kind} "
                  f"(spec {spec.hash()})" + (f"; {skipped} left out by the loader" if skipped else ""))
    cache = FeatureCache(out)
    if engine == "ray":
        from genrelab.scale.ray_features import extract_ray

        try:
            report = extract_ray(cache, tracks, spec, address=address, progress=not quiet, verify=verify)
        except GenrelabError as exc:
            console.print(f"[red]error:[/red] {shown(exc)}")
            raise typer.Exit(2) from None
    elif engine == "local":
        report = cache.compute_all(tracks, spec, workers=_workers(workers), progress=not quiet, verify=verify,
                                   runtime=Runtime.from_env())
    else:
        raise typer.BadParameter("--engine must be local or ray")
    console.print(report.summary())
    if report.errors:
        from rich.table import Table

        table = Table(title=f"{report.failed} failed")
        table.add_column("track")
        table.add_column("error")
        for tid, err in report.errors[:50]:
            table.add_row(shown(tid), shown(err))
        console.print(table)
        if len(report.errors) > 50:
            console.print(f"... and {len(report.errors) - 50} more")
    if report_path:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps({"spec": spec.to_dict(), **report.to_dict()}, indent=2))
    if strict and report.failed:
        raise typer.Exit(1)


@features_app.command("export-csv")
def export_csv(
    root: Path = typer.Argument(..., help="A folder of audio (labels from genre sub-folders) or one file."),
    out: Path = typer.Option(Path("features_30_sec.csv"), "--out", "-o", help="CSV to write."),
    segments: Optional[float] = typer.Option(
        None, "--segments", help="Segment length in seconds (3: the features_3_sec.csv layout, 10 x 66,149 "
                                 "samples per clip). Default: one row per whole file."),
    max_seconds: float = typer.Option(
        60.0, "--max-seconds", help="Describe only the first SECONDS of each file (default 60: twice a GTZAN "
                                    "clip; bounds memory: an hour-long file costs what a minute does). 0: whole "
                                    "files (memory grows with their length)."),
    workers: int = typer.Option(0, "--workers", "-j", help="Worker processes (0: one per CPU core)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write the 57 Kaggle GTZAN features of every file under ROOT as a Kaggle-layout CSV.

    Files that fail (undecodable, truncated, too large) are listed and skipped; the other rows are written.
    """
    from genrelab import audio
    from genrelab.features.gtzan57 import export_csv as _export

    console = _console()
    if not root.exists():
        console.print(f"[red]error:[/red] not found: {shown(root)}")
        raise typer.Exit(2)
    items = []
    for p in audio.iter_audio_files(root):
        rel = p.relative_to(root) if root.is_dir() else Path(p.name)
        label = rel.parts[0] if len(rel.parts) > 1 else ""
        items.append((p, label))
    if not items:
        console.print(f"[red]error:[/red] no audio files under {shown(root)}")
        raise typer.Exit(2)
    rep = _export(items, out, segments=segments, workers=_workers(workers), progress=not quiet,
                  max_seconds=max_seconds if max_seconds > 0 else None)
    console.print(f"{rep['rows']} rows from {rep['files']} files -> {shown(rep['path'])}"
                  + (f"; [yellow]{rep['failed']} failed[/yellow]" if rep["failed"] else ""))
    for _path, err in rep["errors"][:50]:
        console.print(f"  {shown(err)}")


@features_app.command("list")
def list_features() -> None:
    """The named feature presets usable with --feature."""
    from rich.table import Table

    from genrelab.features.presets import describe_presets

    table = Table(title="feature presets (--feature NAME, or a JSON spec)")
    table.add_column("name")
    table.add_column("kind")
    table.add_column("what")
    for name, kind, desc in describe_presets():
        table.add_row(name, kind, desc)
    _console().print(table)
