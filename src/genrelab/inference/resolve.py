"""Which checkpoint folder a model reference means: a folder, its ``model.json``, or a shipped model's name."""

from __future__ import annotations

import os
from pathlib import Path

from genrelab.types import CheckpointError

DEFAULT_MODEL = "default"


def pretrained_dir(name: str = DEFAULT_MODEL) -> Path:
    """Folder of a model shipped inside the package (``genrelab/pretrained/<name>``)."""
    from importlib import resources

    return Path(str(resources.files("genrelab") / "pretrained" / name))


def resolve_model(path_or_name: str | os.PathLike | None = None) -> Path:
    """A checkpoint folder from a path (folder or its model.json) or the name of a shipped model."""
    ref = DEFAULT_MODEL if path_or_name in (None, "") else str(path_or_name)
    p = Path(ref).expanduser()
    if p.name == "model.json":
        p = p.parent
    if (p / "model.json").exists():
        return p
    if os.sep not in ref and "/" not in ref:
        shipped = pretrained_dir(ref)
        if (shipped / "model.json").exists():
            return shipped
        if ref == DEFAULT_MODEL:
            raise CheckpointError(
                "the shipped default model is missing from this installation "
                f"({shipped}); reinstall genrelab or pass --model PATH to a checkpoint folder"
            )
    if p.exists():
        raise CheckpointError(f"{p}: not a genrelab checkpoint folder (no model.json)")
    raise CheckpointError(f"no model {ref!r}: neither a checkpoint folder nor a shipped model name")


__all__ = ["DEFAULT_MODEL", "pretrained_dir", "resolve_model"]
