"""``genrelab models``: the shipped models (ready to classify) and the architectures of the registry (to train),
or one model described (``--info NAME``)."""

from __future__ import annotations

from typing import Optional

import typer


def _shipped_card(name: str) -> Optional[str]:
    """The model card of a shipped model ``name`` (e.g. ``default``), or None when there is none.

    Hook for shipped models: any name that is not a registry name is looked up with
    ``genrelab.pretrained.model_card(name)`` when that function exists.
    """
    try:
        from genrelab import pretrained
    except Exception:  # pragma: no cover - package data missing
        return None
    card = getattr(pretrained, "model_card", None)
    if card is None:
        return None
    try:
        return card(name)
    except Exception:
        return None


def _shipped_names() -> list[str]:
    try:
        from genrelab import pretrained

        return list(pretrained.names())
    except Exception:
        return []


def _shipped_lines() -> list[str]:
    """One line per shipped model: name, what it is, its genres (read from its ``model.json``)."""
    import json

    from genrelab import pretrained

    lines = []
    for name in _shipped_names():
        try:
            meta = json.loads((pretrained.path(name) / "model.json").read_text(encoding="utf-8"))
            feat = meta.get("input", {}).get("spec", {}).get("feature", {})
            what = f"{meta['model']['name']} on {feat.get('kind', '?')}" + (
                f" ({feat['model']})" if feat.get("model") else "")
            labels = meta.get("labels", [])
            lines.append(f"{name:<10} {what}; {len(labels)} genres: {', '.join(labels)}")
        except Exception as exc:  # a broken installation: say so, list the rest
            lines.append(f"{name:<10} (unreadable: {type(exc).__name__})")
    return lines


TAGGERS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models(
        info: Optional[str] = typer.Option(
            None, "--info", "-i", metavar="NAME",
            help="Describe one model: input contract, parameter counts, arguments and its docstring. "
                 "A shipped model's name (e.g. 'default') prints its model card.",
        ),
        n_classes: int = typer.Option(10, "--classes", "-n", min=1, help="Number of classes for the parameter counts."),
        family: Optional[str] = typer.Option(None, "--family", "-f", help="Only this family (qin, sirek, ...)."),
        markdown: bool = typer.Option(False, "--markdown", help="Print the Markdown table used in docs/models.md."),
        as_json: bool = typer.Option(False, "--json", help="Print the architectures as JSON."),
    ) -> None:
        """The shipped models (for classify / tag / serve --model) and every registered architecture (for train)."""
        from genrelab.models import registry, summary
        from genrelab.types import ConfigError

        if info is not None:
            known = {e.name for e in registry.list_models()}
            if info in known:
                typer.echo(summary.model_info(info))
                return
            card = _shipped_card(info)
            if card is not None:
                typer.echo(card)
                return
            try:
                registry.get(info)
            except ConfigError as exc:
                typer.echo(f"error: {exc}", err=True)
            shipped = _shipped_names()
            if shipped:
                typer.echo(f"shipped models: {', '.join(shipped)}", err=True)
            raise typer.Exit(2)

        if markdown:
            typer.echo(summary.markdown_table(n_classes))
            return
        rows = summary.rows(n_classes)
        if family:
            rows = [r for r in rows if r["family"] == family]
            if not rows:
                fams = sorted({e.family for e in registry.list_models()})
                typer.echo(f"error: no family {family!r}; families: {', '.join(fams)}", err=True)
                raise typer.Exit(2)
        if as_json:
            import json

            typer.echo(json.dumps(rows, indent=2, default=list))
            return
        if not family:
            typer.echo("Shipped models (genrelab classify / tag / serve --model NAME):")
            for line in _shipped_lines() or ["(none installed)"]:
                typer.echo(f"  {line}")
            typer.echo(f"Music taggers (not genre classifiers; genrelab tags --model NAME): {', '.join(TAGGERS)}")
            typer.echo("")
            typer.echo("Architectures (untrained; genrelab train --model NAME):")
        header = ("name", "family", "kind", f"params ({n_classes} cl.)", "input contract")
        table = [header] + [
            (r["name"], r["family"], r["kind"], "-" if r["params"] is None else f"{r['params']:,}", r["contract"])
            for r in rows
        ]
        widths = [max(len(str(row[i])) for row in table) for i in range(4)]
        for row in table:
            cells = [str(c).ljust(w) if i != 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row[:4], widths))]
            typer.echo("  ".join(cells + [str(row[4])]).rstrip())
        typer.echo(f"\n{len(rows)} architectures. Details: genrelab models --info NAME")
