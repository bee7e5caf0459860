"""Models shipped inside the package: ``pretrained/<name>/`` holds a genrelab checkpoint (``model.json`` +
weights) and its ``MODEL_CARD.md``. ``"default"`` is the model ``genrelab classify`` uses.

Only the trained head lives here; a musicnn-embedding model's backbone weights come from the installed
``musicnn`` package (converted once into the user cache), never from this folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from genrelab.types import CheckpointError

CARD_FILE = "MODEL_CARD.md"


def _root() -> Path:
    return Path(str(resources.files("genrelab") / "pretrained"))


def names() -> list[str]:
    """Names of the shipped models (folders with a ``model.json``)."""
    root = _root()
    return sorted(p.name for p in root.iterdir() if (p / "model.json").exists()) if root.is_dir() else []


def path(name: str = "default") -> Path:
    """Folder of shipped model ``name``."""
    p = _root() / name
    if not (p / "model.json").exists():
        raise CheckpointError(f"no shipped model {name!r}; shipped: {', '.join(names()) or 'none'}")
    return p


def model_card(name: str = "default") -> str:
    """The model card (Markdown) of shipped model ``name``: data, protocol, accuracy with its CI, weaknesses."""
    p = _root() / name / CARD_FILE
    if not p.exists():
        raise CheckpointError(f"no model card for {name!r} (looked for {p})")
    return p.read_text(encoding="utf-8")


__all__ = ["model_card", "names", "path", "CARD_FILE"]
