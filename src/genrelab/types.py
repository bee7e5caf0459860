"""Small types shared by every genrelab module: tracks, label sets and typed errors.

This module imports nothing from genrelab, so every other module may import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Sequence

#: A classification whose calibrated top probability is below this is "uncertain" (more likely wrong than
#: right): ``uncertain: true`` on the result, and ``genrelab tag`` leaves the file alone by default.
UNCERTAIN_BELOW = 0.5


# --------------------------------------------------------------------------- errors
class GenrelabError(Exception):
    """Base class of every error genrelab raises on purpose."""


class AudioProblem(str, Enum):
    """What is wrong with an audio file (stable names, used in reports and CSVs)."""

    MISSING = "missing"
    EMPTY = "empty"
    NOT_AUDIO = "not-audio"
    CORRUPT = "corrupt"
    TOO_SHORT = "too-short"
    SILENT = "silent"
    NON_FINITE = "non-finite"
    UNSUPPORTED = "unsupported"


class AudioError(GenrelabError):
    """An audio file that cannot be used; names the file and the problem.

    ``problem`` is an :class:`AudioProblem`; ``detail`` is a human sentence.
    """

    def __init__(self, path: str | Path, problem: AudioProblem, detail: str = ""):
        self.path = str(path)
        self.problem = AudioProblem(problem)
        self.detail = detail
        msg = f"{self.path}: {self.problem.value}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class DataError(GenrelabError):
    """A dataset, table or manifest that cannot be read as asked."""


class SplitLeakError(DataError):
    """A split puts the same track or artist on two sides."""


class ConfigError(GenrelabError):
    """A configuration (feature, model, recipe) that is invalid."""


class CheckpointError(GenrelabError):
    """A checkpoint that is missing, incomplete or incompatible."""


# --------------------------------------------------------------------------- tracks
@dataclass
class Track:
    """One item of a dataset index.

    ``track_id`` is unique within a dataset (e.g. ``blues.00000`` or ``000002``);
    ``path`` may be None for feature-table rows without audio; ``split`` is the
    official split when the source defines one (FMA ``set.split``).
    """

    track_id: str
    path: Path | None
    label: str | None
    artist: str | None = None
    duration: float | None = None
    split: str | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["path"] = "" if self.path is None else str(self.path)
        extra = row.pop("extra")
        for key, value in extra.items():
            row.setdefault(key, value)
        return row


class LabelSet:
    """An ordered, immutable list of class names with index lookup."""

    def __init__(self, names: Iterable[str]):
        self.names: tuple[str, ...] = tuple(str(n) for n in names)
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"duplicate labels in {self.names}")
        self._index = {n: i for i, n in enumerate(self.names)}

    @classmethod
    def from_labels(cls, labels: Iterable[str | None]) -> "LabelSet":
        """The sorted set of the non-empty labels seen."""
        return cls(sorted({lab for lab in labels if lab}))

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise ConfigError(f"unknown label {name!r}; known: {', '.join(self.names)}") from None

    def encode(self, names: Sequence[str]) -> list[int]:
        return [self.index(n) for n in names]

    def __getitem__(self, i: int) -> str:
        return self.names[i]

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSet) and other.names == self.names

    def __repr__(self) -> str:
        return f"LabelSet({list(self.names)!r})"

    def to_list(self) -> list[str]:
        return list(self.names)


GTZAN_GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)
