"""``genrelab tag``: write the predicted genre into the files' own tags (dry run unless ``--write``).

Safe by default: a file that already has a genre keeps it unless ``--overwrite``; an answer below
``--min-confidence`` is reported as uncertain and not written; writing follows symlinks, keeps hard
links and never leaves a half-written file (see :mod:`genrelab.tagging`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from genrelab.cli.classify import collect_paths, load_classifier, model_ref, no_audio_exit
from genrelab.cli.show import shown

from genrelab.types import UNCERTAIN_BELOW

#: the calibrated threshold below which a result is "uncertain" (``uncertain: true`` on the result)
DEFAULT_MIN_CONFIDENCE = UNCERTAIN_BELOW


def style_names(res: Any) -> list[str] | None:
    """The ``styles`` of a result as names (None when the result has no ``styles`` field)."""
    styles = getattr(res, "styles", None)
    if styles is None:
        return None
    names = []
    for s in styles:
        if isinstance(s, dict):
            s = next((s[k] for k in ("style", "label", "tag", "name", "genre") if k in s), None)
        elif isinstance(s, (tuple, list)):
            s = s[0] if s else None
        if s:
            names.append(str(s))
    return names


def tag_command(
    paths: list[str] = typer.Argument(..., metavar="PATHS", help="Audio files and/or folders (searched recursively)."),
    write: bool = typer.Option(False, "--write", help="Apply the changes (default: dry run, print the plan)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace genre tags the files already have."),
    only_empty: bool = typer.Option(False, "--only-empty", hidden=True,
                                    help="Leave files that already have a genre tag (the default now)."),
    model: str = typer.Option("default", "--model", "-m", metavar="NAME|DIR",
                              help="Shipped model name, checkpoint folder, or a `train --out` run folder."),
    min_confidence: float = typer.Option(
        DEFAULT_MIN_CONFIDENCE, "--min-confidence", min=0.0, max=1.0, metavar="P",
        help="Leave files whose calibrated top score is below this (reported as uncertain; default: the "
             "threshold of the results' uncertain field)."),
    styles: bool = typer.Option(False, "--styles",
                                help="Also write the result's styles (after the genre, as more genre values)."),
    capitalize: bool = typer.Option(True, "--capitalize/--lowercase", help="Write 'Hip-Hop' style names or raw labels."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, metavar="N", help="Parallel worker processes."),
) -> None:
    """Write the predicted genre into the files' own tags (ID3 TCON, Vorbis GENRE, MP4 ©gen). Dry run by default."""
    from rich.console import Console

    from genrelab import tagging
    from genrelab.inference import classify_parallel

    err = Console(stderr=True, soft_wrap=True)  # messages carry file paths: never wrap them mid-path
    out = Console(soft_wrap=True)
    files, missing = collect_paths(paths)
    # where a killed run may have left its files: beside each file, and beside the target of a symlink
    folders = [p for p in paths if Path(p).is_dir()] + [str(Path(f).parent) for f in files] + [
        os.path.dirname(os.path.realpath(f)) for f in files]
    for line in tagging.clean_stale(folders, dry_run=not write):
        err.print(shown(line))
    if not files and not missing:
        no_audio_exit(paths, err)
    for m in missing:
        err.print(f"[yellow]skipped[/yellow]  {shown(m)}: missing")
    candidates: list[tuple[str, list[str]]] = []
    n_failed = len(missing)
    for f in files:
        if not tagging.supported(f):
            err.print(f"[yellow]skipped[/yellow]  {shown(f)}: {shown(Path(f).suffix or 'this')} files cannot hold "
                      "a genre tag")
            continue
        try:
            current = tagging.read_genres(f)
        except tagging.TagError as exc:
            n_failed += 1
            err.print(f"[yellow]skipped[/yellow]  {shown(exc)}")
            continue
        if current and not overwrite:
            out.print(f"keep       {shown(f)}: already '{shown('; '.join(current))}' (--overwrite replaces it)")
            continue
        candidates.append((f, current))
    if not candidates:
        err.print("nothing to tag")
        raise typer.Exit(1 if n_failed else 0)
    clf = load_classifier(model, err)
    current_of = dict(candidates)
    n_changed = n_uncertain = n_no_styles = 0
    for res in classify_parallel([c for c, _ in candidates], model_ref(model), workers=workers, top_k=1,
                                 classifier=clf):
        name = shown(res.path)
        if res.error:
            n_failed += 1
            err.print(f"[yellow]failed[/yellow]   {shown(res.error)}")
            continue
        cur = current_of.get(res.path) or []
        if res.score is not None and res.score < min_confidence:
            n_uncertain += 1
            out.print(f"uncertain  {name}: {shown(res.label)} {res.score:.0%} < {min_confidence:.0%}, "
                      "left as is")
            continue
        wanted = [res.label]
        if styles:
            extra = style_names(res)
            if extra is None:
                n_no_styles += 1
            wanted += [s for s in extra or [] if s.lower() != res.label.lower()]
        genres = list(dict.fromkeys(tagging.display_name(g) if capitalize else g for g in wanted))
        if cur == genres:
            out.print(f"same       {name}: '{shown('; '.join(genres))}'")
            continue
        if write:
            try:
                tagging.write_genre(res.path, genres)
            except tagging.TagError as exc:
                n_failed += 1
                err.print(f"[red]failed[/red]   {shown(exc)}")
                continue
        n_changed += 1
        verb = "wrote" if write else "would set"
        out.print(f"{verb:<10} {name}: '{shown('; '.join(cur))}' -> '{shown('; '.join(genres))}' "
                  f"({res.score:.0%})")
    if n_no_styles:
        err.print(f"note: the model gave no styles for {n_no_styles} file(s); only the genre was "
                  + ("written" if write else "planned"))
    action = "changed" if write else "would change (dry run; add --write to apply)"
    err.print(f"{n_changed} file(s) {action}, {n_uncertain} uncertain (below {min_confidence:.0%}), "
              f"{n_failed} failed")


def register(app: typer.Typer) -> None:
    app.command("tag")(tag_command)
