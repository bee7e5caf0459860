"""``genrelab data ...``: check, summarise, split and download datasets.

- ``data check ROOT``: decode every audio file (parallel, progress bar); report corrupt, unreadable,
  too-short, silent and duplicate files as a table (and a CSV with ``--csv FILE``). Never modifies anything.
- ``data summary ROOT``: counts per label and split, durations, formats, sample rates.
- ``data split ROOT --method ... --out MANIFEST``: make a seeded split and save its manifest.
- ``data download NAME --to DIR``: resumable download, checksum check and extraction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from genrelab.cli.show import shown

data_app = typer.Typer(help="Datasets: check, summarise, split and download.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


def _console():
    from rich.console import Console

    return Console()


# --------------------------------------------------------------------------- check
@data_app.command("check")
def check(
    root: Path = typer.Argument(..., help="A folder (searched recursively for audio files) or one file."),
    min_seconds: float = typer.Option(1.0, "--min-seconds", help="Files shorter than this are reported as too-short."),
    csv_path: Optional[Path] = typer.Option(
        None, "--csv", metavar="FILE", help="Also write the per-file report as a CSV here (none by default)."),
    no_csv: bool = typer.Option(False, "--no-csv", hidden=True, help="Write no CSV (the default)."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Worker processes (0: one per CPU core)."),
    strict: bool = typer.Option(False, "--strict", help="Exit with status 1 when any file has a problem."),
    show_ok: bool = typer.Option(False, "--all", help="List healthy files in the table too."),
) -> None:
    """Decode every audio file under ROOT and report the problems (reads only; deletes nothing)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from genrelab import audio
    from genrelab.datasets import check as chk

    console = _console()
    if not root.exists():
        console.print(f"[red]error:[/red] no such file or folder: {shown(root)}")
        raise typer.Exit(2)
    files = list(audio.iter_audio_files(root))
    if not files:
        console.print(f"no audio files under {shown(root)} (extensions: {', '.join(sorted(audio.AUDIO_EXTENSIONS))})")
        raise typer.Exit(0)
    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("check", total=len(files))
        reports = chk.check_files(files, min_seconds=min_seconds, jobs=jobs or None,
                                  on_done=lambda _r: bar.advance(task), checksums=chk.find_checksums(root))
    counts = chk.summarize(reports)
    bad = [r for r in reports if not r.ok]
    listed = reports if show_ok else bad
    if listed:
        table = Table(title=f"{len(bad)} problem file(s) of {len(reports)}" if bad else f"{len(reports)} file(s)")
        for col in ("file", "problem", "detail", "seconds"):
            table.add_column(col, overflow="fold")
        for r in listed:
            rel = _rel(r.path, root)
            style = "green" if r.ok else "red"
            table.add_row(shown(rel), f"[{style}]{r.status}[/{style}]", shown(r.detail),
                          "" if r.duration is None else f"{r.duration:.1f}")
        console.print(table)
    console.print("summary: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    verified = sum(r.checksum == "match" for r in reports)
    if verified or any(r.checksum for r in reports):
        console.print(f"checksums: {verified} file(s) match the shipped list, "
                      f"{sum(r.checksum == 'mismatch' for r in reports)} differ")
    if csv_path is not None and not no_csv:
        out = chk.write_csv(reports, csv_path)
        console.print(f"csv: {shown(out)}")
    if strict and bad:
        raise typer.Exit(1)


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root)) if root.is_dir() else path
    except ValueError:
        return path


# --------------------------------------------------------------------------- summary
@data_app.command("summary")
def summary(
    root: Path = typer.Argument(..., help="Dataset folder (or a Kaggle features CSV)."),
    kind: str = typer.Option("auto", "--kind", "-k", help="gtzan, fma, folder, table or auto."),
    split: Optional[Path] = typer.Option(None, "--split", help="A split manifest: counts per part too."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Counts per label (and split), durations, formats and sample rates of a dataset."""
    from collections import Counter

    from rich.table import Table

    from genrelab import audio
    from genrelab.datasets import KINDS, load_dataset
    from genrelab.splits import Split
    from genrelab.types import AudioError, GenrelabError

    console = _console()
    if kind not in KINDS:
        raise typer.BadParameter(f"choose from {', '.join(KINDS)}", param_hint="--kind")
    try:
        index = load_dataset(kind, root)
        manifest = Split.from_csv(split) if split else None
    except GenrelabError as exc:
        console.print(f"[red]error:[/red] {shown(exc)}")
        raise typer.Exit(2) from None
    formats: Counter = Counter()
    rates: Counter = Counter()
    channels: Counter = Counter()
    for t in index.tracks:
        if t.path is None:
            continue
        formats[t.path.suffix.lower().lstrip(".") or "?"] += 1
        try:
            inf = audio.info(t.path)
            rates[inf.sample_rate] += 1
            channels[inf.channels] += 1
        except AudioError:
            rates["unreadable"] += 1
    by_part: dict[str, dict[str, int]] = {}
    missing_in_index = 0
    if manifest is not None:
        # rows per part: tracks, or segments for the (leaky) segment-level manifests
        for part in manifest.parts:
            counts: Counter = Counter()
            for row in manifest.rows:
                if row.part != part:
                    continue
                t = index.get(row.track_id)
                if t is None:
                    missing_in_index += 1
                else:
                    counts[t.label] += 1
            by_part[part] = dict(counts)
    else:
        by_part = index.split_counts()
    info = index.summary()
    info.update({
        "formats": dict(formats), "sample_rates": {str(k): v for k, v in rates.items()},
        "channels": {str(k): v for k, v in channels.items()},
        "parts": {p: sum(v.values()) for p, v in by_part.items()},
        "split_source": str(split) if split else ("official" if by_part else None),
    })
    if manifest is not None:
        info["split_method"] = manifest.method
        info["split_unit"] = "segments" if manifest.segmented else "tracks"
        info["split_tracks_not_in_index"] = missing_in_index
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    parts = list(by_part)
    table = Table(title=f"{index.name}: {len(index)} tracks, {len(index.labels)} labels")
    table.add_column("label")
    table.add_column("tracks", justify="right")
    for p in parts:
        table.add_column(p, justify="right")
    for label, n in info["labels"].items():
        table.add_row(label, str(n), *[str(by_part[p].get(label, 0)) for p in parts])
    table.add_row("[bold]total[/bold]", str(len(index)), *[str(sum(by_part[p].values())) for p in parts])
    console.print(table)
    d = info["duration"]
    if d.get("known"):
        console.print(f"durations: {d['known']} known, total {d['total_s'] / 3600:.2f} h, "
                      f"min {d['min_s']:.1f} s, median {d['median_s']:.1f} s, max {d['max_s']:.1f} s")
    console.print("formats: " + (", ".join(f"{k} {v}" for k, v in formats.most_common()) or "none (no audio)"))
    if rates:
        console.print("sample rates: " + ", ".join(f"{k} Hz: {v}" if k != "unreadable" else f"unreadable: {v}"
                                                    for k, v in rates.most_common()))
        console.print("channels: " + ", ".join(f"{k}: {v}" for k, v in sorted(channels.items())))
    console.print(f"artists: {info['artists_known']} tracks with a known artist, {info['distinct_artists']} distinct")
    if info["skipped"]:
        console.print("skipped: " + ", ".join(f"{k} {v}" for k, v in info["skipped"].items()))
    if manifest is not None:
        unit = "segments" if manifest.segmented else "tracks"
        console.print(f"split: {manifest.method}; part columns count {unit}"
                      + (f"; {missing_in_index} manifest row(s) not in the index" if missing_in_index else ""))


# --------------------------------------------------------------------------- split
@data_app.command("split")
def split_cmd(
    root: Path = typer.Argument(..., help="Dataset folder (or a Kaggle features CSV)."),
    out: Path = typer.Option(..., "--out", "-o", help="Manifest CSV to write."),
    method: str = typer.Option("artist", "--method", "-m",
                               help="stratified, artist, gtzan-filtered, fma-official or random-segment (leaky)."),
    ratios: str = typer.Option("qin", "--ratios", "-r",
                               help="A preset (qin 80/20, sears 70/30, liu 80/10/10, sirek 60/20/20) or e.g. 0.7,0.3."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    kind: str = typer.Option("auto", "--kind", "-k", help="gtzan, fma, folder, table or auto."),
    lists: Optional[Path] = typer.Option(None, "--lists", help="Folder of the GTZAN *_filtered.txt lists (gtzan-filtered)."),
    allow_artist_leak: bool = typer.Option(
        False, "--allow-artist-leak", help="stratified: accept known artists on two sides (the studies' protocol)."),
    segments: int = typer.Option(10, "--segments", help="random-segment: segments per track."),
) -> None:
    """Make a seeded split of a dataset and save it as a manifest (leak-checked)."""
    from genrelab import splits
    from genrelab.datasets import load_dataset
    from genrelab.types import GenrelabError

    console = _console()
    opts: dict = {}
    if method == "gtzan-filtered":
        opts["lists"] = lists or root
    elif method == "stratified":
        opts["allow_artist_leak"] = allow_artist_leak
    elif method == "random-segment":
        opts["n_segments"] = segments
    try:
        index = load_dataset(kind, root)
        result = splits.make_split(index, method, ratios, seed, **opts)
        path = result.to_csv(out)
    except GenrelabError as exc:
        console.print(f"[red]error:[/red] {shown(exc)}")
        raise typer.Exit(2) from None
    console.print(f"{result.method}: " + ", ".join(f"{p} {n}" for p, n in result.sizes().items()))
    if result.info.get("missing"):
        console.print(f"listed but not in the dataset: {result.info['missing']}")
    console.print(f"manifest: {shown(path)}")


# --------------------------------------------------------------------------- download
@data_app.command("download")
def download_cmd(
    name: Optional[str] = typer.Argument(None, help="gtzan, fma-metadata, fma-small, fma-medium, fma-large, fma-full."),
    to: Path = typer.Option(Path("data"), "--to", help="Destination folder."),
    url: Optional[str] = typer.Option(None, "--url", help="Download from this URL instead (a mirror)."),
    checksum: Optional[str] = typer.Option(None, "--checksum", help="Expected checksum, e.g. sha1:<hex> ('' for none)."),
    extract: bool = typer.Option(True, "--extract/--no-extract", help="Extract the archive after verifying it."),
    keep_archive: bool = typer.Option(True, "--keep-archive/--remove-archive", help="Keep the archive after extraction."),
    list_only: bool = typer.Option(False, "--list", help="List the known archives and exit."),
    retries: int = typer.Option(5, "--retries", help="Reconnections after a dropped connection."),
) -> None:
    """Download a dataset archive (resumable), verify its checksum and extract it."""
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)
    from rich.table import Table

    from genrelab.datasets import download as dl

    console = _console()
    if list_only or name is None:
        table = Table(title="datasets genrelab can download")
        for col in ("name", "size", "what", "checksum", "url"):
            table.add_column(col, overflow="fold")
        for a in dl.ARCHIVES.values():
            table.add_row(a.name, a.approx_size, a.description, a.checksum or "-", a.urls[0])
        console.print(table)
        if name is None and not list_only:
            raise typer.Exit(2)
        return
    try:
        arch = dl.resolve(name, url=url, checksum=checksum)
    except dl.DownloadError as exc:
        console.print(f"[red]error:[/red] {shown(exc)}")
        raise typer.Exit(2) from None
    console.print(f"{arch.name}: {arch.description}")
    with Progress(TextColumn(arch.filename), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("download", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            res = dl.download(name, to, url=url, checksum=checksum, do_extract=extract, keep_archive=keep_archive,
                              progress=progress, retries=retries)
        except dl.DownloadError as exc:
            bar.stop()
            console.print(f"[red]error:[/red] {shown(exc)}")
            raise typer.Exit(1) from None
    if res.skipped_download:
        console.print(f"already downloaded and verified: {shown(res.archive)}")
    else:
        console.print(f"downloaded{' and verified' if arch.checksum else ' (no checksum to verify)'}: {shown(res.archive)}")
    if extract:
        state = "already extracted" if res.skipped_extract else "extracted"
        console.print(f"{state} into {shown(to)}: {', '.join(res.extracted) or '(nothing)'}")
