"""Two-stage models fitted after a trained network: Hoang's CNN -> SVM (``bian-cnn1d-svm``).

:func:`train_cnn_svm` reads the trained ``bian-cnn1d`` checkpoint named by the run's ``model_args.cnn``
(a run or checkpoint folder; a relative path is read from the run's own folder, so ``../cnn1d`` is the
CNN trained on the same split of the same recipe), copies its weights, computes the CNN's penultimate
features of every training and validation excerpt, standardises them and fits scikit-learn's
``LinearSVC`` for each ``C`` of ``sklearn.param_grid`` (the best on the validation part is kept, as
for the scikit-learn baselines). The scaler and the SVM are folded into the network's last linear
layer (``w / sigma``, ``b - sum(w * mu / sigma)``), so the result is an ordinary torch checkpoint
(safetensors) that ``genrelab classify`` and the ONNX export use like any other; its outputs are the
SVM's decision values. The run is then scored and recorded by :func:`genrelab.training.finish.finish_run`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.types import ConfigError


def _cnn_checkpoint(cfg: Any) -> Path:
    src = str((cfg.model_args or {}).get("cnn") or "")
    if not src:
        raise ConfigError(f"{cfg.model}: model_args.cnn must name the trained bian-cnn1d run or checkpoint folder")
    path = Path(src).expanduser()
    if not path.is_absolute():
        path = Path(cfg.out) / path
    if (path / "checkpoint").is_dir():
        path = path / "checkpoint"
    if not (path / "model.json").is_file():
        raise ConfigError(f"{cfg.model}: no trained CNN checkpoint at {path} (train the bian-cnn1d run first)")
    return path


def _embed(model: Any, X: np.ndarray, batch_size: int = 64) -> np.ndarray:
    import torch

    out = []
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(X), batch_size):
            out.append(model.embed(torch.from_numpy(np.ascontiguousarray(X[i:i + batch_size], dtype=np.float32))).numpy())
    return np.concatenate(out).astype(np.float64)


def fold_linear_svm(svm: Any, mean: np.ndarray, std: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` of one linear layer computing a standardise-then-``LinearSVC`` decision for every class.

    Two classes (one decision value ``d`` for class 1) become logits ``(-d/2, d/2)``; a class absent from
    the training part gets a bias far below every other class."""
    coef = np.asarray(svm.coef_, dtype=np.float64)
    icpt = np.asarray(svm.intercept_, dtype=np.float64)
    classes = np.asarray(svm.classes_, dtype=np.int64)
    if coef.shape[0] == 1 and len(classes) == 2:
        coef, icpt = np.vstack([-coef / 2, coef / 2]), np.array([-icpt[0] / 2, icpt[0] / 2])
    w = coef / std[None, :]
    b = icpt - (coef * (mean / std)[None, :]).sum(axis=1)
    W = np.zeros((n_classes, coef.shape[1]))
    B = np.full(n_classes, -1e6)
    W[classes], B[classes] = w, b
    return W, B


def train_cnn_svm(cfg: Any, entry: Any, data: Any, run_dir: Path) -> Path:
    import torch
    from sklearn.svm import LinearSVC

    from genrelab import checkpoint
    from genrelab.training.finish import TrainInfo, finish_run, write_json

    labels = data.labels
    model = entry.build(len(labels), **cfg.model_args)
    ck = checkpoint.load(_cnn_checkpoint(cfg))
    if ck.model_name != "bian-cnn1d":
        raise ConfigError(f"{cfg.model}: model_args.cnn is a {ck.model_name!r} checkpoint, not bian-cnn1d")
    if list(ck.labels) != list(labels):
        raise ConfigError(f"{cfg.model}: the CNN was trained on labels {ck.labels}, this run has {labels}")
    if ck.contract.spec != data.spec:
        raise ConfigError(f"{cfg.model}: the CNN's input ({ck.contract.spec}) differs from this run's ({data.spec})")
    if ck.normalizer is not None and data.normalizer is not None and not (
            np.allclose(ck.normalizer.mean, data.normalizer.mean) and np.allclose(ck.normalizer.std, data.normalizer.std)):
        raise ConfigError(f"{cfg.model}: the CNN was normalised with other statistics: train it on the same split")
    try:
        model.load_state_dict(ck.model.state_dict(), strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"{cfg.model}: the CNN's weights do not fit (cnn_args must match its arguments): {exc}") from None
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    Ztr = _embed(model, data.train.X)
    mean, std = Ztr.mean(axis=0), Ztr.std(axis=0) + 1e-8
    has_val = data.val is not None and len(data.val) > 0
    Zva = _embed(model, data.val.X) if has_val else None
    grid = (cfg.sklearn or {}).get("param_grid") or {}
    cs = grid.get("C", [cfg.model_args.get("C", 1.0)])
    cs = list(cs) if isinstance(cs, (list, tuple)) else [cs]
    if len(cs) > 1 and not has_val:
        raise ConfigError("a param_grid over C needs a validation part to select on")
    rows, best = [], None
    for c in cs:
        svm = LinearSVC(C=float(c), random_state=cfg.seed, max_iter=20000).fit((Ztr - mean) / std, data.train.y)
        val_acc = float(np.mean(svm.predict((Zva - mean) / std) == data.val.y)) if has_val else None
        train_acc = float(np.mean(svm.predict((Ztr - mean) / std) == data.train.y))
        rows.append({"params": {"C": c}, "val_acc": val_acc, "train_acc": train_acc})
        if best is None or (val_acc is not None and val_acc > best[0]):
            best = (val_acc if val_acc is not None else -1.0, c, svm, train_acc)
    _, c_best, svm, train_acc = best
    W, B = fold_linear_svm(svm, mean, std, len(labels))
    with torch.no_grad():
        last = model.classifier[-1]
        last.weight.copy_(torch.from_numpy(W).to(last.weight.dtype))
        last.bias.copy_(torch.from_numpy(B).to(last.bias.dtype))
    model.eval()
    train_time = time.perf_counter() - t0
    write_json(run_dir / "selection.json", {"grid": rows, "selected": {"C": c_best}, "cnn": str(ck.path)})
    # no history.csv: the SVM is fitted, not trained in epochs (the CNN's curves are in its own run)
    info = TrainInfo(optimizer="-", epochs=None, train_time_s=train_time,
                     extra={"selected_params": {"C": c_best}, "n_candidates": len(cs), "cnn_checkpoint": str(ck.path),
                            "svm_train_accuracy": train_acc})
    return finish_run(cfg, entry, data, run_dir, model, info)


__all__ = ["train_cnn_svm", "fold_linear_svm"]
