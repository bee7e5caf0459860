"""The studies' report layouts, declared as data: which runs fill each table, its columns and row order,
and which figures are drawn (``genrelab report RUNS --study NAME``).

A :class:`Layout` lists :class:`TableSpec` s and :class:`FigureSpec` s. Rows are chosen by ``select``:
shell globs on a run's own name (the last part of ``<split>/<entry>_<grid point>``, as the recipes in
``recipes/*.yaml`` name them, e.g. ``t1-dcrnn_batch_size16``). A table is drawn once per protocol present
(the study's leaky split and the leak-free one never share a table). Cells come from *fields*
(:data:`genrelab.reports.fields.FIELDS`: ``model``, ``batch_size``, ``activation``, ``train.accuracy``,
``valid.f1``, ``arg.hidden_size``, ...), so a new layout needs no new code.

Table kinds: ``runs`` (one row per run, ``columns``), ``pivot`` (rows = the distinct values of
``pivot_rows``, one column per value of ``pivot_col``, cells = ``value``) and ``genres`` (one row per genre:
the test samples of that genre, then one column of ``value`` — per-genre recall — per run).

Where the study's text is not in this repository the rows follow ``recipes/<study>.yaml`` and
docs/reproduction.md, which list what is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["Col", "TableSpec", "FigureSpec", "Layout", "LAYOUTS", "get_layout"]


@dataclass(frozen=True)
class Col:
    """A column: the field it shows and its heading."""

    key: str
    header: str


@dataclass(frozen=True)
class TableSpec:
    id: str  # "Table 1"
    title: str
    select: tuple[str, ...]  # globs on the run's own name
    columns: tuple[Col, ...] = ()  # kind "runs"
    order: tuple[str, ...] = ()  # fields the rows are sorted by (numbers numerically), then the run name
    kind: str = "runs"  # runs | pivot | genres
    pivot_rows: tuple[Col, ...] = ()  # kind "pivot": the row headings
    pivot_col: str = ""  # kind "pivot": the field whose values are the columns
    pivot_col_header: str = ""  # kind "pivot": what those columns are ("batch size")
    pivot_values: tuple = ()  # kind "pivot": the study's columns, in its order (others found are appended)
    value: str = "accuracy"  # kind "pivot"/"genres": the field in the cells
    note: str = ""


@dataclass(frozen=True)
class FigureSpec:
    id: str  # "Fig. 5"
    title: str
    select: tuple[str, ...]
    kind: str = "curves"  # curves: one train/validation(/test) panel per run | overlay: one line per run
    column: str = "val_acc"  # overlay: the per-epoch history column drawn
    series: tuple[str, ...] = ()  # overlay: the fields that label a line
    facet: tuple[str, ...] = ()  # overlay: one figure per distinct value of these fields
    where: Mapping[str, str] = field(default_factory=dict)  # only runs whose field shows this text
    max_runs: int = 12  # curves: at most this many panels (the first in table order)


@dataclass(frozen=True)
class Layout:
    name: str
    title: str
    tables: tuple[TableSpec, ...]
    figures: tuple[FigureSpec, ...] = ()
    defaults: Mapping[str, str] = field(default_factory=dict)  # shown when a run's config does not say
    note: str = ""


# --------------------------------------------------------------------------- shared columns
RUN = Col("run", "Run")
MODEL = Col("model", "Model")
OPT = Col("optimizer", "Optimiser")
EPOCHS = Col("epochs", "Epochs")
ACC = Col("accuracy", "Accuracy %")
PRETRAINED = Col("pretrained", "Pretrained")
LR = Col("lr", "LR")
_SEARS_MLP = (RUN, Col("hidden_layers", "Hidden layers"), Col("nodes", "Nodes"), Col("activation", "Activation"),
              OPT, EPOCHS, ACC, Col("clip_accuracy", "Clip accuracy %"), PRETRAINED)
_SEARS_CNN = (RUN, Col("arg.blocks", "Conv blocks"), Col("hidden_layers", "Hidden layers"), Col("nodes", "Nodes"),
              Col("activation", "Activation"), OPT, EPOCHS, ACC, Col("clip_accuracy", "Clip accuracy %"), PRETRAINED)
_MLP_ORDER = ("hidden_layers", "optimizer", "epochs")
_CNN_ORDER = ("arg.blocks", "optimizer", "epochs")


def _sears_table(n: int, title: str, cnn: bool, genres: bool) -> tuple[TableSpec, ...]:
    sel = (f"t{n}-*",)
    out = [TableSpec(f"Table {n}", title, sel, _SEARS_CNN if cnn else _SEARS_MLP, _CNN_ORDER if cnn else _MLP_ORDER)]
    if genres:
        out.append(TableSpec(f"Table {n} (per genre)", f"{title}: accuracy per genre", sel, kind="genres",
                             value="recall", order=_CNN_ORDER if cnn else _MLP_ORDER,
                             note="Test Samples = the genre's scored test examples (slices in the study protocol); "
                                  "cells = the share of them classified correctly (per-genre recall)."))
    return tuple(out)


SEARS = Layout(
    "sears", "Sears (after Saint-Félix): MLP and CNN ladders on MFCC slices",
    tables=(*_sears_table(1, "Sigmoid MLP ladder", False, False),
            *_sears_table(2, "ReLU MLP ladder", False, True),
            *_sears_table(3, "mlp_base: optimiser x epochs", False, True),
            *_sears_table(4, "Sigmoid CNN ladder", True, False),
            *_sears_table(5, "Sigmoid cnn_base: optimiser x epochs", True, False),
            *_sears_table(6, "ReLU CNN ladder", True, True),
            *_sears_table(7, "cnn_base: optimiser x epochs", True, True)),
    figures=tuple(FigureSpec(f"Fig. {n + 4}", f"per-epoch curves of the Table {n} runs", (f"t{n}-*",))
                  for n in range(1, 8)),
    defaults={"activation": "relu"},
    note="Accuracy = the run's headline level (slices in the study protocol); clip accuracy = mean of a clip's "
         "slice probabilities. The study has no validation part: its figures show train and test curves.",
)

LIU = Layout(
    "liu", "Liu et al.: CNN, DCNN, CRNN, DCRNN on FMA-small",
    tables=(
        TableSpec("Table 1", "Test accuracy % by model and batch size", ("t1-*",), kind="pivot",
                  pivot_rows=(MODEL,), pivot_col="batch_size", pivot_col_header="batch size",
                  pivot_values=(4, 16, 32, 64), value="test.accuracy"),
        TableSpec("Table 2", "Test accuracy % by model and optimiser: standard vs cyclic learning rate", ("t2-*",),
                  kind="pivot", pivot_rows=(MODEL, OPT), pivot_col="clr", pivot_col_header="learning rate",
                  pivot_values=("standard", "cyclic"), value="test.accuracy"),
        TableSpec("Table 3", "Validation and test accuracy of every run", ("t1-*", "t2-*"),
                  (RUN, MODEL, Col("batch_size", "Batch"), OPT, Col("clr", "Learning rate"),
                   Col("valid.accuracy", "Validation accuracy %"), Col("test.accuracy", "Test accuracy %"),
                   PRETRAINED),
                  order=("model", "batch_size", "optimizer", "clr")),
    ),
    figures=(
        FigureSpec("Fig. 5", "DCRNN validation accuracy by batch size", ("t1-dcrnn*",), kind="overlay",
                   column="val_acc", series=("batch_size",)),
        FigureSpec("Fig. 6", "training accuracy by optimiser (standard learning rate)", ("t2-*",), kind="overlay",
                   column="train_acc", series=("optimizer",), facet=("model",), where={"clr": "standard"}),
    ),
)

QIN = Layout(
    "qin", "Qin et al.: MLP, LSTM and ResNet-18 grids on GTZAN",
    tables=(
        TableSpec("MLP", "MLP (the study's network, LogSigmoid output): learning-rate grid", ("mlp", "mlp_*"),
                  (RUN, LR, EPOCHS, ACC, PRETRAINED), ("lr",)),
        TableSpec("MLP (improved)", "MLP without the LogSigmoid output (our extra run): learning-rate grid",
                  ("mlp-improved*",), (RUN, LR, EPOCHS, ACC, PRETRAINED), ("lr",)),
        TableSpec("LSTM", "LSTM: learning rate x nodes x layers", ("lstm*",),
                  (RUN, LR, Col("arg.hidden_size", "Nodes"), Col("arg.num_layers", "Layers"), EPOCHS, ACC,
                   PRETRAINED), ("lr", "arg.hidden_size", "arg.num_layers")),
        TableSpec("ResNet-18", "ResNet-18: learning-rate grid", ("resnet18*",), (RUN, LR, EPOCHS, ACC, PRETRAINED),
                  ("lr",)),
    ),
    figures=(FigureSpec("curves", "per-epoch curves", ("mlp_*", "lstm*", "resnet18*")),),
)

HOANG = Layout(
    "hoang", "Hoang: Bian's 1-D CNN (-> SVM) vs Feng's BiGRU on FMA-medium",
    tables=(TableSpec("Results", "Accuracy, precision and recall", ("cnn1d*", "bigru*"),
                      (RUN, MODEL, ACC, Col("precision", "Precision %"), Col("recall", "Recall %"), PRETRAINED),
                      ("model",)),),
    figures=(FigureSpec("curves", "per-epoch curves", ("cnn1d*", "bigru*")),),
)

_SIREK_COLS = (MODEL, PRETRAINED,
               *(Col(f"{part}.{m}", f"{head} {mh} %") for part, head in (("train", "Train"), ("valid", "Validation"))
                 for m, mh in (("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"),
                               ("f1", "F1"))))
SIREK = Layout(
    "sirek", "Sirek et al.: CNNs, CNN+GRU, EfficientNet-B0 (+GRU), VGG11 on 3 s spectrogram images",
    tables=(
        TableSpec("Table 3.2", "CNNs trained from scratch", ("cnn3*", "cnn4*"), _SIREK_COLS, ("model",)),
        TableSpec("Table 3.3", "EfficientNet-B0 and EfficientNet-B0 + GRU", ("efficientnet*",), _SIREK_COLS,
                  ("model",)),
        TableSpec("Table 3.4", "VGG11", ("vgg11*",), _SIREK_COLS, ("model",)),
    ),
    figures=(FigureSpec("curves", "per-epoch curves", ("*",)),),
    note="Which model sits in which of Tables 3.2-3.4 is assumed here (the study's text is not in this repository): "
         "3.2 the CNNs and CNN + GRU, 3.3 EfficientNet-B0 (+ GRU), 3.4 VGG11.",
)

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (SEARS, LIU, QIN, HOANG, SIREK)}


def get_layout(name: str) -> Layout:
    """The layout called ``name`` (a study: sears, liu, qin, hoang, sirek); ValueError naming the choices."""
    key = str(name).strip().lower()
    if key not in LAYOUTS:
        raise ValueError(f"unknown study layout {name!r}; choose from {', '.join(LAYOUTS)}")
    return LAYOUTS[key]
