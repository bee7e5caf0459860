"""``genrelab tags FILE...``: the top music tags of songs from the pretrained musicnn / vgg taggers.

The clip-level score of a tag is its mean probability over the clip's 3-second patches (as the
original ``musicnn.tagger.top_tags``); ``--segments`` also lists the top tags of every patch.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from genrelab.cli.show import printable, shown


class TagModel(str, Enum):
    MSD_musicnn = "MSD_musicnn"
    MTT_musicnn = "MTT_musicnn"
    MSD_vgg = "MSD_vgg"
    MTT_vgg = "MTT_vgg"


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class Backend(str, Enum):
    auto = "auto"
    onnx = "onnx"
    torch = "torch"


def _top(scores: Any, labels: list[str], k: int) -> list[dict[str, Any]]:
    import numpy as np

    order = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return [{"label": labels[i], "score": round(float(scores[i]), 4)} for i in order]


def tag_files(
    files: list[Path], model: str = "MSD_musicnn", top_k: int = 5, segments: bool = False, backend: str = "auto",
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Tag audio files (or folders of them). Returns ``(results, errors)``; a file that cannot be read
    goes to ``errors`` (``{"path", "error"}``) and the rest are still tagged."""
    from genrelab import audio
    from genrelab.musicnn.dsp import file_patches
    from genrelab.musicnn.info import PATCH_SECONDS as seconds
    from genrelab.musicnn.runtime import engine
    from genrelab.runtime import Runtime
    from genrelab.types import AudioError

    eng = engine(model, Runtime.from_env(backend=None if backend == "auto" else backend))
    results: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for root in files:
        paths = list(audio.iter_audio_files(root)) if Path(root).is_dir() else [Path(root)]
        if not paths:
            errors.append({"path": str(root), "error": "no audio files found"})
        for path in paths:
            try:
                x = file_patches(path)
            except AudioError as exc:
                errors.append({"path": str(path), "error": str(exc)})
                continue
            taggram = eng.run(x, ("taggram",))["taggram"]
            item: dict[str, Any] = {
                "path": str(path), "model": model, "n_segments": int(taggram.shape[0]),
                "tags": _top(taggram.mean(axis=0), eng.labels, top_k),
            }
            if segments:
                item["segments"] = [
                    {"index": i, "start": round(i * seconds, 3), "end": round((i + 1) * seconds, 3),
                     "tags": _top(row, eng.labels, top_k)}
                    for i, row in enumerate(taggram)
                ]
            results.append(item)
    return results, errors


def _csv(results: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "model", "segment", "start", "end", "rank", "label", "score"])
    for r in results:
        for rank, t in enumerate(r["tags"], 1):
            w.writerow([r["path"], r["model"], "all", "", "", rank, t["label"], f"{t['score']:.4f}"])
        for s in r.get("segments", []):
            for rank, t in enumerate(s["tags"], 1):
                w.writerow([r["path"], r["model"], s["index"], f"{s['start']:.3f}", f"{s['end']:.3f}", rank, t["label"],
                            f"{t['score']:.4f}"])
    return buf.getvalue()


def _table(results: list[dict[str, Any]], model: str) -> Any:
    from rich.table import Table

    def fmt(tags: list[dict[str, Any]]) -> str:
        return ", ".join(f"{t['label']} ({t['score']:.2f})" for t in tags)

    table = Table(title=f"Top tags ({model})", show_lines=False)
    table.add_column("File", overflow="fold")
    table.add_column("Segment", justify="right")
    table.add_column("Tags (score)", overflow="fold")
    for r in results:
        table.add_row(shown(Path(r["path"]).name), "all", fmt(r["tags"]))
        for s in r.get("segments", []):
            table.add_row("", f"{s['start']:.0f}-{s['end']:.0f} s", fmt(s["tags"]))
    return table


def register(app: typer.Typer) -> None:
    @app.command("tags")
    def tags(
        files: list[Path] = typer.Argument(..., help="Audio files or folders to tag."),
        model: TagModel = typer.Option(TagModel.MSD_musicnn, "--model", "-m",
                                       help="Pretrained tagger: MSD_* (50 Last.fm tags) or MTT_* (50 MagnaTagATune tags)."),
        top_k: int = typer.Option(5, "--top-k", "-k", min=1, max=50, help="How many tags to show."),
        segments: bool = typer.Option(False, "--segments", help="Also list the top tags of every 3-second segment."),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
        backend: Backend = typer.Option(Backend.auto, "--backend", help="auto (ONNX Runtime when possible), onnx or torch."),
    ) -> None:
        """Top music tags (genre, mood, instruments, era) of songs from the pretrained musicnn taggers."""
        from genrelab.types import GenrelabError

        try:
            results, errors = tag_files(files, model.value, top_k, segments, backend.value)
        except GenrelabError as exc:
            typer.echo(f"error: {printable(exc)}", err=True)
            raise typer.Exit(2)
        for e in errors:
            typer.echo(f"error: {printable(e['error'])}", err=True)
        if fmt is OutputFormat.json:
            text = json.dumps({"model": model.value, "results": results, "errors": errors}, indent=2) + "\n"
        elif fmt is OutputFormat.csv:
            text = _csv(results)
        else:
            text = None
        if text is not None:
            if output:
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_text(text)
            else:
                sys.stdout.write(text)
        elif results:
            from rich.console import Console

            if output:
                output.parent.mkdir(parents=True, exist_ok=True)
                with output.open("w") as fh:
                    Console(file=fh, width=120).print(_table(results, model.value))
            else:
                Console().print(_table(results, model.value))
        if errors:
            raise typer.Exit(1)
