"""``genrelab report RUNS... --out DIR [--study NAME]``: compare many runs as Markdown, CSV and an HTML page (figures
as PNG files beside it); ``--study`` prints and adds a study's own tables and figures."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        runs: List[Path] = typer.Argument(
            ..., help="Run directories (each with a metrics.json) or parent folders searched recursively.",
            show_default=False,
        ),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Folder for report.md, report.csv, report.html and its PNG figures."),
        sort: str = typer.Option(
            "accuracy", "--sort", "-s",
            help="Metric to sort by: accuracy, precision, recall, f1, recall_variance, log_loss, train_time_s, "
                 "n_params, epochs, model, recall[<genre>], per_genre.<genre>.f1 ... Scores sort best first.",
        ),
        formats: str = typer.Option("md,csv,html", "--format", "-f", help="Comma-separated: md, csv, html."),
        reverse: bool = typer.Option(False, "--reverse", help="Reverse the natural sort order."),
        all_levels: bool = typer.Option(
            False, "--all-levels", help="Also report the other scoring levels a run recorded (segment, track vote)."),
        plots: bool = typer.Option(
            True, "--plots/--no-plots", help="Draw plots: PNG files written beside report.html."),
        title: str = typer.Option("genrelab comparison report", "--title", help="Report title."),
        study: Optional[str] = typer.Option(
            None, "--study",
            help="Also print and write a study's own tables and figures in its layout: sears, liu, qin, hoang "
                 "or sirek (runs are matched by their recipe names, e.g. t1-*)."),
    ) -> None:
        """Compare runs: the studies' columns (model, optimiser, epochs, time, accuracy with CI, precision,
        recall, F1, per-genre recall, recall variance, parameters, pretrained), grouped by split type and
        scoring level; with --study, the study's own tables (same rows and columns) and figures first."""
        from genrelab import reports

        layout = None
        if study is not None:
            try:
                layout = reports.get_layout(study)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--study") from None

        fmts = [f.strip().lower() for f in formats.split(",") if f.strip()]
        bad = [f for f in fmts if f not in reports.FORMATS]
        if bad or not fmts:
            raise typer.BadParameter(f"choose from {', '.join(reports.FORMATS)}", param_hint="--format")
        missing = [str(p) for p in runs if not p.exists()]
        if missing:
            typer.echo(f"error: no such path: {', '.join(missing)}", err=True)
            raise typer.Exit(2)
        records, skipped = reports.load_runs(runs, all_levels=all_levels)
        if not records:
            typer.echo("error: no metrics.json found under " + ", ".join(map(str, runs)), err=True)
            for p, why in skipped:
                typer.echo(f"  skipped {p}: {why}", err=True)
            raise typer.Exit(1)
        descending: Optional[bool] = (not reports.natural_descending(sort)) if reverse else None
        try:
            reports.group_records(records, sort, descending)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--sort") from None
        written = reports.write_report(records, out, sort=sort, formats=fmts, descending=descending,
                                       title=title, plots=plots, skipped=skipped, study=layout)
        if layout is not None:
            typer.echo(reports.tables_markdown(layout, reports.study_tables(layout, records)))
        typer.echo(f"{len(records)} run(s)" + (f", {len(skipped)} skipped" if skipped else ""))
        for p, why in skipped:
            typer.echo(f"  skipped {p}: {why}", err=True)
        for fmt, path in written.items():
            typer.echo(f"{fmt}: {path}")
