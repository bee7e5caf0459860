"""The ``genrelab`` command line: the only place that parses arguments.

Each command group lives in its own module (``cli/data.py``, ``cli/train.py``, ...) that exposes
``register(app)``. Command modules import heavy libraries (torch, librosa) inside the command
functions so that ``genrelab --help`` and ``genrelab classify`` start fast.
"""

from __future__ import annotations

from importlib import import_module

import typer

app = typer.Typer(
    name="genrelab",
    help="Music genre classification: data, features, models, training, evaluation and instant classification.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = ("data", "features", "models", "train", "report", "classify", "tags")


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        import genrelab

        typer.echo(genrelab.__version__)
        raise typer.Exit()


for _name in COMMAND_MODULES:
    import_module(f"genrelab.cli.{_name}").register(app)


def main() -> None:
    app()
