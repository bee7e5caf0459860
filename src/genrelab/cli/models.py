"""Placeholder command module: filled in by the issue that owns it."""

import typer


def register(app: typer.Typer) -> None:
    return None
