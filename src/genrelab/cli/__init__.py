"""The ``genrelab`` command line: the only place that parses arguments.

Each command group lives in its own module (``cli/data.py``, ``cli/train.py``, ...) that exposes
``register(app)``. Command modules import heavy libraries (torch, librosa) inside the command
functions so that ``genrelab --help`` and ``genrelab classify`` start fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import get_args, get_origin

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

app = typer.Typer(
    name="genrelab",
    help="Music genre classification: data, features, models, training, evaluation and instant classification.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = ("data", "features", "models", "train", "report", "classify", "tag", "tags")

_TYPE_NAMES = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "bool": "BOOLEAN", "Path": "PATH"}


def _type_name(desc) -> str | None:
    """``INTEGER``, ``FLOAT``, ``TEXT``, ``PATH`` ... for a typer type descriptor; None for choices."""
    if getattr(desc, "is_choice", False):
        return None
    if getattr(desc, "is_path", False) or getattr(desc, "is_file", False):
        return "PATH"
    ann = getattr(desc, "annotation", None)
    if get_origin(ann) in (list, tuple) and get_args(ann):
        ann = get_args(ann)[0]
    name = getattr(ann, "__name__", "")
    return _TYPE_NAMES.get(name, name.upper() or "VALUE")


def _plain_metavars(params: list) -> None:
    """Help in the usual command-line style: ``--lr FLOAT``, ``--root PATH``, ``PATHS...``; flags show no type
    (instead of ``<bool>``, ``<str>``, ``<list[str]>`` and ``{paths}...``). Choices keep ``<a|b|c>``."""
    for p in params:
        if isinstance(p, TyperArgument):
            if p.metavar is None:
                p.metavar = p.name.upper()
            p.display_type_rich = lambda ctx: None  # the name already says it
        elif isinstance(p, TyperOption) and p.metavar is None:
            if p.is_flag or p.count:
                p.metavar = ""
            else:
                p.metavar = _type_name(getattr(p, "type_descriptor", None))


def _plain_help_option(opt):
    if opt is not None and opt.metavar is None:
        opt.metavar = ""
    return opt


class _PlainHelp:
    """Plain metavars and help option for a typer command or group (mixed in before the typer class)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _plain_metavars(self.params)

    def get_help_option(self, ctx):
        return _plain_help_option(super().get_help_option(ctx))


class PlainCommand(_PlainHelp, TyperCommand):
    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if isinstance(p, TyperArgument):
                name = (p.metavar or p.name.upper()) + ("..." if p.nargs != 1 else "")
                pieces.append(name if p.required else f"[{name}]")
            else:
                pieces.extend(p.get_usage_pieces(ctx))
        return pieces


class PlainGroup(_PlainHelp, TyperGroup):
    pass


def _is_default(cls, base) -> bool:
    return not isinstance(cls, type) or cls is base  # None, typer's DefaultPlaceholder or the plain class


def _use_plain_help(t: typer.Typer) -> None:
    if _is_default(t.info.cls, TyperGroup):
        t.info.cls = PlainGroup
    for cmd in t.registered_commands:
        if _is_default(cmd.cls, TyperCommand):
            cmd.cls = PlainCommand
    for grp in t.registered_groups:
        if _is_default(grp.cls, TyperGroup):
            grp.cls = PlainGroup
        if grp.typer_instance is not None:
            _use_plain_help(grp.typer_instance)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        import genrelab

        typer.echo(f"genrelab {genrelab.__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


for _name in COMMAND_MODULES:
    import_module(f"genrelab.cli.{_name}").register(app)
_use_plain_help(app)


def main() -> None:
    app()
