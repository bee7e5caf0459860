"""The fields a study layout can show, read from a report :class:`~genrelab.reports.records.RunRecord`.

``field_value(record, key)`` gives the raw value (``None`` = not recorded) and ``field_text`` the table
cell. Keys:

- any key of :data:`FIELDS` (``run``, ``model``, ``optimizer``, ``lr``, ``batch_size``, ``epochs``, ``clr``,
  ``hidden_layers``, ``nodes``, ``activation``, ``pretrained``, ``accuracy``, ``precision``, ``recall``,
  ``f1``, ``clip_accuracy``, ...);
- ``<part>.<score>`` with part ``train``, ``valid`` or ``test`` and score ``accuracy``, ``precision``,
  ``recall`` or ``f1`` (the run record's ``scores``; ``test.*`` falls back to the headline metrics);
- ``arg.<name>``: a model argument from the run's config (``arg.blocks``, ``arg.hidden_size``).

Scores are fractions and shown in %; a missing value shows as "—".
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from genrelab.reports.records import MISSING, RunRecord, _num

__all__ = ["FIELDS", "field_value", "field_text", "own_name", "selects", "sort_key"]

_SCORE_KEYS = {"accuracy": "accuracy", "precision": "precision_macro", "recall": "recall_macro",
               "f1": "f1_macro"}
PARTS = ("train", "valid", "test")


@dataclass(frozen=True)
class Field:
    get: Callable[[RunRecord], Any]
    percent: bool = False


def own_name(r: RunRecord) -> str:
    """The run's own name: the last part of ``<split>/<entry>_<grid point>``."""
    return str(r.name).replace("\\", "/").rsplit("/", 1)[-1]


def selects(r: RunRecord, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(own_name(r), p) for p in patterns)


def _hidden(r: RunRecord) -> list[Any] | None:
    args = r.model_args
    for k in ("hidden", "dense", "hidden_sizes"):
        v = args.get(k)
        if isinstance(v, (list, tuple)):
            return list(v)
        if v is not None:
            return [v]
    return None


def _clr(r: RunRecord) -> str | None:
    s = r.params.get("scheduler")
    if s is None:
        return None
    return "standard" if str(s).lower() in ("none", "", "constant", "off") else "cyclic"


def _clip_accuracy(r: RunRecord) -> Any:
    if r.level == "track":
        return r.value("accuracy")
    levels = r.raw.get("levels") or {}
    for m in levels.values():
        if isinstance(m, Mapping) and m.get("level") == "track" and m.get("aggregation") in (None, "mean"):
            return m.get("accuracy")
    return None


FIELDS: dict[str, Field] = {
    "run": Field(own_name),
    "model": Field(lambda r: r.model),
    "optimizer": Field(lambda r: r.optimizer),
    "lr": Field(lambda r: r.params.get("lr")),
    "batch_size": Field(lambda r: r.params.get("batch_size")),
    "scheduler": Field(lambda r: r.params.get("scheduler")),
    "clr": Field(_clr),
    "epochs": Field(lambda r: r.epochs),
    "best_epoch": Field(lambda r: r.best_epoch),
    "split": Field(lambda r: r.split_label),
    "level": Field(lambda r: r.level_label),
    "hidden_layers": Field(lambda r: None if _hidden(r) is None else len(_hidden(r))),
    "nodes": Field(lambda r: None if _hidden(r) is None else "-".join(str(x) for x in _hidden(r))),
    "activation": Field(lambda r: r.model_args.get("activation")),
    "pretrained": Field(lambda r: r.value("pretrained")),  # yes / no / what the record says
    "n_params": Field(lambda r: r.n_params),
    "clip_accuracy": Field(_clip_accuracy, percent=True),
    **{k: Field(lambda r, m=m: r.value(m), percent=True) for k, m in _SCORE_KEYS.items()},
}


def field_value(r: RunRecord, key: str, defaults: Mapping[str, Any] | None = None) -> Any:
    """The raw value of ``key`` for ``r`` (``defaults[key]`` when the run does not say; else ``None``)."""
    v: Any
    if key.startswith("arg."):
        v = r.model_args.get(key[4:])
    elif key.split(".", 1)[0] in PARTS and "." in key:
        part, score = key.split(".", 1)
        v = (r.raw.get("scores") or {}).get(part, {}).get(_SCORE_KEYS.get(score, score))
        if v is None and part == "test":
            v = r.value(_SCORE_KEYS.get(score, score))
    elif key in FIELDS:
        v = FIELDS[key].get(r)
    else:
        raise KeyError(f"unknown report field {key!r}")
    if v is None and defaults and key in defaults:
        return defaults[key]
    return v


def is_percent(key: str) -> bool:
    if key.split(".", 1)[0] in PARTS and "." in key:
        return True
    f = FIELDS.get(key)
    return bool(f and f.percent)


def format_value(v: Any, percent: bool = False) -> str:
    if v is None or v == "":
        return MISSING
    if percent:
        x = _num(v)
        return MISSING if x is None else f"{100 * x:.1f}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "-".join(str(x) for x in v)
    return str(v)


def field_text(r: RunRecord, key: str, defaults: Mapping[str, Any] | None = None) -> str:
    """The table cell of ``key`` for ``r``."""
    return format_value(field_value(r, key, defaults), is_percent(key))


def sort_key(v: Any) -> tuple:
    """Missing last, numbers numerically before text."""
    if v is None:
        return (2, 0.0, "")
    x = _num(v)
    if x is not None:
        return (0, x, "")
    return (1, 0.0, str(v).lower())
