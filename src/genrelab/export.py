"""ONNX export of any torch model in the zoo, with a dynamic batch axis, checked by onnxruntime.

``export_onnx(model, input_shape, path)`` writes ``path`` with one input ``"input"``
``(batch, *input_shape)`` and one output ``"logits"`` ``(batch, n_classes)``, the batch axis dynamic.
A model whose forward returns a tuple is exported with one named output per element (``output_names``;
e.g. the musicnn engine's per-patch layers, :mod:`genrelab.musicnn.runtime`). The file is written
atomically (a temporary file in the same folder, then renamed), so a shared cache never holds a torn file.

Two exporters exist in torch 2.x. The TorchScript-based one (``dynamo=False``) is deprecated but
exports every model of the zoo in well under a second and maps LSTM/GRU layers onto ONNX's own
``LSTM``/``GRU`` operators; the torch.export-based one (``dynamo=True``, needs ``onnxscript``) is
the future default but takes several seconds per model. ``exporter="auto"`` (the default) uses the
TorchScript exporter while torch still ships it and falls back to the dynamo exporter otherwise
(or when the first one fails). Every export is verified: onnxruntime runs the file on a batch of
a different size than the one traced and its outputs must match PyTorch's within tolerance.

scikit-learn baselines are not exported (they would need skl2onnx, not a dependency).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genrelab.types import GenrelabError

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 18
EXPORTERS = ("auto", "torchscript", "dynamo")


class ExportError(GenrelabError):
    """A model that could not be exported, or whose ONNX outputs do not match PyTorch's."""


def _example(input_shape: Sequence[int], batch: int, seed: int) -> "Any":
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *input_shape, generator=g)


def _export_torchscript(model, x, path: Path, opset: int, input_name: str, output_names: Sequence[str]) -> None:
    import torch

    kwargs = dict(opset_version=opset, do_constant_folding=True, input_names=[input_name],
                  output_names=list(output_names),
                  dynamic_axes={name: {0: "batch"} for name in (input_name, *output_names)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (x,), str(path), dynamo=False, **kwargs)
        except TypeError:  # torch < 2.5 has no dynamo argument (and exports with TorchScript anyway)
            torch.onnx.export(model, (x,), str(path), **kwargs)


def _export_dynamo(model, x, path: Path, opset: int, input_name: str, output_names: Sequence[str]) -> None:
    import torch

    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            model, (x,), dynamo=True, opset_version=opset, input_names=[input_name], output_names=list(output_names),
            dynamic_shapes=({0: batch},), verbose=False,
        )
        prog.save(str(path))


def export_onnx(
    model,
    input_shape: Sequence[int],
    path: str | Path,
    opset: int = DEFAULT_OPSET,
    *,
    exporter: str = "auto",
    verify: bool = True,
    rtol: float = 1e-3,
    atol: float = 1e-4,
    metadata: dict[str, str] | None = None,
    input_name: str = INPUT_NAME,
    output_names: Sequence[str] = (OUTPUT_NAME,),
) -> Path:
    """Export ``model`` (a torch ``nn.Module`` returning logits) to ONNX at ``path``.

    ``input_shape`` is one example's shape (no batch axis), e.g. ``contract.input_shape``.
    ``input_name`` / ``output_names`` name the graph's input and outputs (one per element when the
    model returns a tuple).
    ``metadata`` is stored as ONNX ``metadata_props`` (e.g. labels as JSON). With ``verify``, raises
    :class:`ExportError` when onnxruntime's outputs differ from PyTorch's beyond ``rtol``/``atol``.
    The model is exported in eval mode on the CPU; its own mode and device are restored afterwards.
    """
    import torch

    if exporter not in EXPORTERS:
        raise ExportError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"only torch models can be exported to ONNX, not {type(model).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    model.eval().cpu()
    x = _example(input_shape, 2, seed=0)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        order = {"auto": ("torchscript", "dynamo"), "torchscript": ("torchscript",), "dynamo": ("dynamo",)}[exporter]
        errors = []
        for name in order:
            try:
                with torch.no_grad():
                    (_export_torchscript if name == "torchscript" else _export_dynamo)(
                        model, x, tmp, opset, input_name, tuple(output_names))
                break
            except Exception as exc:  # try the next exporter
                errors.append(f"{name}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
                tmp.unlink(missing_ok=True)
        else:
            raise ExportError(f"{type(model).__name__}: ONNX export failed ({'; '.join(errors)})")
        if metadata:
            import onnx

            proto = onnx.load(str(tmp))
            for k, v in metadata.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = str(k), str(v)
            onnx.save(proto, str(tmp))
        if verify:
            diff = compare_onnx(model, tmp, input_shape, batch=3, rtol=rtol, atol=atol, input_name=input_name,
                                output_names=output_names)
            if diff is not None:
                raise ExportError(f"{type(model).__name__}: ONNX outputs differ from PyTorch's (max abs diff {diff:.3g})")
        os.chmod(tmp, 0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        model.to(device).train(was_training)
    return path


def onnx_session(path: str | Path):
    """An onnxruntime CPU inference session for ``path``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnx(path_or_session, x: np.ndarray) -> np.ndarray:
    """Logits from an exported model for a float32 batch ``x``."""
    sess = path_or_session if hasattr(path_or_session, "run") else onnx_session(path_or_session)
    return sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})[0]


def compare_onnx(model, path: str | Path, input_shape: Sequence[int], batch: int = 3, rtol: float = 1e-3,
                 atol: float = 1e-4, seed: int = 1, *, input_name: str = INPUT_NAME,
                 output_names: Sequence[str] = (OUTPUT_NAME,)) -> float | None:
    """None when onnxruntime and PyTorch agree on a random batch (every output), else the largest absolute
    difference."""
    import torch

    x = _example(input_shape, batch, seed)
    with torch.no_grad():
        out = model.eval()(x)
    refs = [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]
    gots = onnx_session(path).run(list(output_names), {input_name: x.numpy()})
    worst = None
    for got, ref in zip(gots, refs, strict=True):
        if got.shape != ref.shape:
            return float("inf")
        if not np.allclose(got, ref, rtol=rtol, atol=atol):
            diff = float(np.max(np.abs(got - ref)))
            worst = diff if worst is None else max(worst, diff)
    return worst


__all__ = ["export_onnx", "compare_onnx", "run_onnx", "onnx_session", "ExportError", "INPUT_NAME", "OUTPUT_NAME",
           "DEFAULT_OPSET"]
