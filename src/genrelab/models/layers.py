"""Small building blocks shared by the study models (Keras-compatible pooling, helpers).

Several studies were written in Keras; where Keras and PyTorch layers differ in a way that changes
shapes (``padding="same"`` pooling, which pads only as much as needed and more on the bottom/right),
the Keras behaviour is reproduced here so that layer sizes and parameter counts match the studies.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def same_pad_amounts(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: ``(before, after)`` with the extra pixel after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class KerasMaxPool2d(nn.Module):
    """``keras.layers.MaxPooling2D(pool_size, strides, padding)`` on ``(B, C, H, W)``.

    ``padding="same"`` gives ``ceil(size / stride)`` outputs per axis, padding with ``-inf`` (so
    padded cells never win), extra pixel at the bottom/right as TensorFlow does; ``"valid"`` is
    ``floor((size - pool) / stride) + 1``. ``strides`` defaults to ``pool_size`` as in Keras.
    """

    def __init__(self, pool_size: int | tuple[int, int] = 2, strides: int | tuple[int, int] | None = None,
                 padding: str = "valid"):
        super().__init__()
        if padding not in ("same", "valid"):
            raise ValueError("padding must be 'same' or 'valid'")
        self.pool_size = _pair(pool_size)
        self.strides = _pair(strides if strides is not None else pool_size)
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        if self.padding == "same":
            ph = same_pad_amounts(int(x.shape[-2]), self.pool_size[0], self.strides[0])
            pw = same_pad_amounts(int(x.shape[-1]), self.pool_size[1], self.strides[1])
            if any(ph) or any(pw):
                x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
        return F.max_pool2d(x, self.pool_size, self.strides)

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}"


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


def mlp(sizes: list[int] | tuple[int, ...], act: type[nn.Module] = nn.ReLU, dropout: float = 0.0) -> list[nn.Module]:
    """Layers of ``Linear -> act [-> Dropout]`` for consecutive pairs of ``sizes`` (no output layer)."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


def last_step(output: Tensor) -> Tensor:
    """The last time step of a batch-first RNN output ``(B, T, F) -> (B, F)``."""
    return output[:, -1]


def bidirectional_final(h_n: Tensor) -> Tensor:
    """Final hidden states of the last layer of a bidirectional RNN, concatenated: ``(B, 2 * hidden)``.

    ``h_n`` is ``(num_layers * 2, B, hidden)``; the forward direction's final state has read the
    whole sequence left to right and the backward one right to left.
    """
    return torch.cat([h_n[-2], h_n[-1]], dim=-1)


def keras_init_(module: nn.Module) -> nn.Module:
    """Re-initialise like Keras defaults: Glorot-uniform kernels, zero biases, orthogonal recurrent
    kernels, LSTM forget-gate bias 1 (``unit_forget_bias``), BatchNorm gamma 1 / beta 0.

    PyTorch's defaults differ (Kaiming-uniform with a=sqrt(5), uniform biases); the studies written
    in Keras trained from Keras' initialisation, so their models start from it here too.
    """
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LSTM, nn.GRU)):
            # Keras initialises each layer's whole kernel (input, gates * units) at once: Glorot over
            # the full matrix, orthogonal recurrent kernel; PyTorch's (gates * units, input) is its transpose.
            for name, p in m.named_parameters():
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(p)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(p)
                elif name.startswith("bias"):
                    nn.init.zeros_(p)
                    if isinstance(m, nn.LSTM) and name.startswith("bias_ih"):
                        p.data[m.hidden_size: 2 * m.hidden_size] = 1.0
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def keras_bn(num_features: int, dims: int = 2) -> nn.Module:
    """BatchNorm with Keras' defaults (``momentum=0.99`` i.e. PyTorch 0.01, ``epsilon=1e-3``)."""
    cls = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    return cls(num_features, eps=1e-3, momentum=0.01)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["KerasMaxPool2d", "keras_init_", "keras_bn", "same_pad_amounts", "conv_out", "mlp", "last_step", "bidirectional_final",
           "count_parameters"]
