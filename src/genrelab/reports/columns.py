"""The comparison table's columns (shared by the Markdown, CSV and HTML renderers) and the legend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from genrelab.reports.records import MISSING, RunRecord, _int, _num

# --------------------------------------------------------------------------- columns
def _pct(v: Any) -> str:
    x = _num(v)
    return MISSING if x is None else f"{100 * x:.1f}"


def _fmt_time(v: Any) -> str:
    x = _num(v)
    if x is None:
        return MISSING
    if x < 120:
        return f"{x:.1f} s"
    if x < 7200:
        return f"{x / 60:.1f} min"
    return f"{x / 3600:.2f} h"


def _fmt_int(v: Any) -> str:
    x = _int(v)
    return MISSING if x is None else f"{x:,}"


def _fmt_text(v: Any) -> str:
    return MISSING if v is None or v == "" else str(v)


def _fmt_param(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:g}"
    return v


def _fmt_var(v: Any) -> str:
    x = _num(v)
    return MISSING if x is None else f"{x:.4f}"


def _fmt_acc(r: RunRecord) -> str:
    acc = r.value("accuracy")
    if acc is None:
        return MISSING
    s = _pct(acc)
    sd = _num(r.fold_std.get("accuracy"))
    if sd is not None:
        s += f" ± {100 * sd:.1f}"
    ci = r.accuracy_ci()
    if ci is not None:
        s += f" ({100 * ci[0]:.1f}–{100 * ci[1]:.1f})"
    return s


@dataclass(frozen=True)
class Column:
    key: str  # sort key / CSV value key
    header: str
    fmt: Any  # callable(record) -> display text


def _fmt_epochs(r: RunRecord) -> str:
    s = _fmt_int(r.epochs)
    if r.best_epoch is not None:
        s += f" (best {r.best_epoch})"
    return s


def _columns(genres: Sequence[str], records: Sequence[RunRecord] = ()) -> list[Column]:
    """The table columns; ``LR``/``Batch``/``Scheduler`` only when some record has them."""
    cols = [
        Column("run", "Run", lambda r: _fmt_text(r.name)),
        Column("model", "Model", lambda r: _fmt_text(r.model)),
        Column("optimizer", "Optimiser", lambda r: _fmt_text(r.optimizer)),
    ]
    for key, header in (("lr", "LR"), ("batch_size", "Batch"), ("scheduler", "Scheduler")):
        if any(r.params.get(key) is not None for r in records):
            cols.append(Column(key, header, lambda r, key=key: _fmt_text(_fmt_param(r.params.get(key)))))
    cols += [
        Column("epochs", "Epochs", _fmt_epochs),
        Column("train_time_s", "Processing time", lambda r: _fmt_time(r.train_time_s)),
        Column("split", "Split", lambda r: r.split_label),
        Column("level", "Level", lambda r: r.level_label),
        Column("accuracy", "Accuracy % (95% CI)", _fmt_acc),
        Column("precision_macro", "Precision %", lambda r: _pct(r.value("precision_macro"))),
        Column("recall_macro", "Recall %", lambda r: _pct(r.value("recall_macro"))),
        Column("f1_macro", "F1 %", lambda r: _pct(r.value("f1_macro"))),
        Column("recall_variance", "Recall variance", lambda r: _fmt_var(r.value("recall_variance"))),
    ]
    for g in genres:
        cols.append(Column(f"recall[{g}]", f"Recall {g} %", lambda r, g=g: _pct(r.per_genre_recall().get(g))))
    cols.append(Column("n_params", "Parameters", lambda r: _fmt_int(r.n_params)))
    cols.append(Column("pretrained", "Pretrained", lambda r: _fmt_text(r.value("pretrained"))))
    return cols


def _legend_lines(records: Sequence[RunRecord]) -> list[str]:
    lines = [
        "Accuracy, precision, recall and F1 in %; precision/recall/F1 are macro averages over genres. "
        "Accuracy shows the 95% bootstrap confidence interval (resampling tracks) when recorded, and "
        "± the standard deviation across folds for k-fold runs. Recall variance is the variance of the "
        "per-genre recalls (Sears). \"—\" = not recorded.",
        "**Split:** *leak-free* = no track (and, where stated, no artist) on both sides; *LEAKY* = e.g. a "
        "random split of segments, where segments of one track fall on both sides: such numbers overestimate "
        "accuracy and are only comparable with each other.",
        "**Level:** *segment* = every short segment scored on its own; *track* = one answer per track "
        "(mean of segment probabilities, or majority vote), or a model that sees the whole clip.",
    ]
    if any(r.leaky is True for r in records) and any(r.leaky is False for r in records):
        lines.append("**Warning:** this report holds both leaky and leak-free runs; compare numbers within a "
                     "table only.")
    return lines


def _md_cell(s: str) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    return str(s).replace("|", "\\|").replace("\n", " ")
