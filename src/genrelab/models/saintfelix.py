"""Sears / Saint-Félix: MLPs, CNNs and an LSTM on 13 MFCC x 125 frames per 2.9 s GTZAN slice.

The study (Keras) cuts the first 29 s of each 22,050 Hz GTZAN clip into 10 slices of 63,945 samples
and computes 13 MFCCs per slice with librosa's defaults (n_fft 2048, hop 512, centred frames):
``1 + 63945 // 512 = 125`` frames, stored time-major as ``(125, 13)``. Each slice is one example;
clip predictions aggregate the slices. The preset is
:func:`genrelab.features.spectral.saintfelix_mfcc_spec`.

Faithfulness notes (Keras -> PyTorch):

- Keras' ``MaxPooling2D(padding="same")`` is reproduced exactly (:class:`~genrelab.models.layers.KerasMaxPool2d`),
  so feature-map sizes and the first dense layer's size match the Keras models.
- BatchNorm uses Keras' ``epsilon=1e-3`` and ``momentum=0.99``; weights start from Keras' default
  initialisation (Glorot-uniform, zero biases; LSTM forget bias 1).
- A PyTorch LSTM layer has two bias vectors (``bias_ih``, ``bias_hh``) where Keras has one, so each
  LSTM layer here has ``4 * units`` more parameters than the Keras summary shows; the function
  computed is the same.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genrelab.models.layers import KerasMaxPool2d, keras_bn, keras_init_, mlp
from genrelab.models.registry import InputContract, register
from genrelab.types import ConfigError

N_FRAMES = 125
N_MFCC = 13


def saintfelix_contract() -> InputContract:
    """(125, 13) MFCC per 63,945-sample slice, 10 slices of the first 29 s at 22,050 Hz."""
    from genrelab.features.spectral import saintfelix_mfcc_spec

    return InputContract(saintfelix_mfcc_spec(), (N_FRAMES, N_MFCC))


#: The hidden-layer activations of the ladders (Sears runs every ladder with sigmoid and with ReLU).
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}
#: Pooling of the three conv blocks: Sears' text ("All pooling ... 2x2 windows with a stride width of 2")
#: or Saint-Félix's code (3x3/2, 3x3/2, 2x2/2); Keras 'same' padding in both.
POOLS: dict[str, tuple[int, int, int]] = {"study": (2, 2, 2), "saintfelix": (3, 3, 2)}
#: Kernel sizes of the three conv blocks (32 filters each), as in Saint-Félix's cnn_base.
KERNELS = (3, 3, 2)


def _activation(name: str) -> type[nn.Module]:
    try:
        return ACTIVATIONS[str(name).lower()]
    except KeyError:
        raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}") from None


class _SaintFelixBase(nn.Module):
    @classmethod
    def input_contract(cls) -> InputContract:
        return saintfelix_contract()


class _SaintFelixMLP(_SaintFelixBase):
    hidden: tuple[int, ...] = ()

    def __init__(self, n_classes: int = 10, hidden: tuple[int, ...] | None = None, activation: str = "relu",
                 dropout: float = 0.0):
        super().__init__()
        sizes = (N_FRAMES * N_MFCC, *(int(h) for h in (self.hidden if hidden is None else hidden)))
        self.net = nn.Sequential(nn.Flatten(), *mlp(sizes, _activation(activation), dropout),
                                 nn.Linear(sizes[-1], n_classes))
        keras_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@register("saintfelix-mlp", family="saintfelix", tags=("gtzan", "mfcc"))
class SaintFelixMLP(_SaintFelixMLP):
    """Saint-Félix's MLP (Sears' ``mlp_base``): flatten (125 x 13 = 1625) -> 512-512-256-128-64 ReLU -> n_classes.

    Input ``(batch, 125, 13)`` MFCC slices (time-major); output logits ``(batch, n_classes)``.
    The rungs of Sears' MLP ladders are this class with other arguments: ``hidden`` (the widths,
    e.g. ``(512, 256, 128)`` for ``mlp_12.1``), ``activation`` (``"relu"`` or ``"sigmoid"``, every
    hidden layer) and ``dropout`` (default 0, as in the study: after every hidden layer).
    """

    hidden = (512, 512, 256, 128, 64)


@register("sears-mlp27", family="saintfelix", tags=("gtzan", "mfcc"))
class SearsMLP27(_SaintFelixMLP):
    """Sears' ``mlp27``: flatten (1625) -> 512-512-256-256-128-64 ReLU -> n_classes.

    Input ``(batch, 125, 13)``; output logits ``(batch, n_classes)``. The deeper sibling of
    ``saintfelix-mlp`` (one more 256-wide layer); takes the same ``activation``/``dropout`` arguments.
    """

    hidden = (512, 512, 256, 256, 128, 64)


class _SaintFelixCNN(_SaintFelixBase):
    """Conv blocks on the (125, 13) MFCC "image" (one channel), then a dense head.

    Block ``i``: Conv 32 ``KERNELS[i]`` -> activation -> MaxPool ``POOLS[pool][i]`` / 2 'same' ->
    BatchNorm [-> Dropout ``conv_dropout[i]``]. ``blocks`` keeps the first 1, 2 or 3 blocks. Head:
    for each width in ``dense``: [Dropout ``head_dropout[i]``] -> Dense -> activation, then
    [Dropout ``head_dropout[len(dense)]``] -> Dense n_classes.
    """

    blocks_default = 3
    dense_default: tuple[int, ...] = (64,)
    head_dropout_default: tuple[float, ...] = (0.3,)
    conv_dropout_default: tuple[float, ...] = ()

    def __init__(self, n_classes: int = 10, activation: str = "relu", pool: str = "study", blocks: int | None = None,
                 conv_dropout: tuple[float, ...] | None = None, dense: tuple[int, ...] | None = None,
                 head_dropout: tuple[float, ...] | None = None):
        super().__init__()
        act = _activation(activation)
        if pool not in POOLS:
            raise ConfigError(f"pool must be one of {', '.join(POOLS)}, got {pool!r}")
        n_blocks = int(self.blocks_default if blocks is None else blocks)
        if not 1 <= n_blocks <= 3:
            raise ConfigError(f"blocks must be 1, 2 or 3, got {blocks}")
        conv_dropout = tuple(self.conv_dropout_default if conv_dropout is None else conv_dropout)
        dense = tuple(int(d) for d in (self.dense_default if dense is None else dense))
        head_dropout = tuple(self.head_dropout_default if head_dropout is None else head_dropout)
        layers: list[nn.Module] = []
        cin = 1
        for i in range(n_blocks):
            layers += [nn.Conv2d(cin, 32, KERNELS[i]), act(), KerasMaxPool2d(POOLS[pool][i], 2, "same"), keras_bn(32)]
            if i < len(conv_dropout) and conv_dropout[i]:
                layers.append(nn.Dropout(float(conv_dropout[i])))
            cin = 32
        self.features = nn.Sequential(*layers, nn.Flatten())
        # 3 blocks, either pooling: (125, 13) -> (123, 11) -> (62, 6) -> (60, 4) -> (30, 2) -> (29, 1) -> (15, 1)
        with torch.no_grad():
            flat = int(self.features(torch.zeros(1, 1, N_FRAMES, N_MFCC)).shape[1])
        head: list[nn.Module] = []
        sizes = (flat, *dense)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i < len(head_dropout) and head_dropout[i]:
                head.append(nn.Dropout(float(head_dropout[i])))
            head += [nn.Linear(a, b), act()]
        if len(head_dropout) > len(dense) and head_dropout[len(dense)]:
            head.append(nn.Dropout(float(head_dropout[len(dense)])))
        head.append(nn.Linear(sizes[-1], n_classes))
        self.classifier = nn.Sequential(*head)
        keras_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)  # (B, 125, 13) -> (B, 1, 125, 13), Keras' trailing channel axis
        return self.classifier(self.features(x))


@register("saintfelix-cnn", family="saintfelix", tags=("gtzan", "mfcc"))
class SaintFelixCNN(_SaintFelixCNN):
    """Saint-Félix's ``cnn_base`` as Sears describes it: [Conv 32 3x3 ReLU -> MaxPool 2x2/2 'same' -> BatchNorm] x 2,
    Conv 32 2x2 ReLU -> MaxPool 2x2/2 'same' -> BatchNorm -> Dropout 0.3 -> Dense 64 ReLU -> n_classes.

    Input ``(batch, 125, 13)`` (or ``(batch, 1, 125, 13)``); the flattened map is 32 x 15 x 1 = 480
    values. Output logits ``(batch, n_classes)``. ``pool="saintfelix"`` uses the 3x3/2 pooling of
    Saint-Félix's code in the first two blocks (same map sizes, same parameters). The rungs of Sears'
    CNN ladders are this class with other arguments: ``activation`` (``"relu"``/``"sigmoid"``),
    ``blocks`` (1-3 conv blocks: ``cnn_01.*``, ``cnn_02.*``, ``cnn_03.*``), ``conv_dropout`` (per block),
    ``dense`` and ``head_dropout``.
    """


@register("sears-cnn038", family="saintfelix", tags=("gtzan", "mfcc"))
class SearsCNN038(_SaintFelixCNN):
    """Sears' ``cnn_03.8``: the three ``cnn_base`` conv blocks, each followed by dropout (40%, 30%, 20%:
    "in the convolutional sequences"), then Dense 128 ReLU -> Dense 64 ReLU -> n_classes.

    Input ``(batch, 125, 13)``; output logits ``(batch, n_classes)``. Same arguments as
    ``saintfelix-cnn`` (``pool="saintfelix"`` for 3x3/2 pooling).
    """

    dense_default = (128, 64)
    head_dropout_default = ()
    conv_dropout_default = (0.4, 0.3, 0.2)


@register("saintfelix-lstm", family="saintfelix", tags=("gtzan", "mfcc", "sequence"))
class SaintFelixLSTM(_SaintFelixBase):
    """Saint-Félix's LSTM: LSTM 64 (sequences) -> LSTM 64 (last step) -> Dense 64 ReLU -> Dropout 0.3 -> n_classes.

    Input ``(batch, 125, 13)``: 125 time steps of 13 MFCCs. Output logits ``(batch, n_classes)``.
    (PyTorch LSTMs carry a second bias vector: 4 x 64 more parameters per layer than Keras reports.)
    """

    def __init__(self, n_classes: int = 10, units: int = 64, dense: int = 64, dropout: float = 0.3):
        super().__init__()
        self.lstm1 = nn.LSTM(N_MFCC, units, batch_first=True)
        self.lstm2 = nn.LSTM(units, units, batch_first=True)
        self.head = nn.Sequential(nn.Linear(units, dense), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dense, n_classes))
        keras_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.lstm1(x)
        y, _ = self.lstm2(y)
        return self.head(y[:, -1])


__all__ = ["ACTIVATIONS", "POOLS", "SaintFelixMLP", "SearsMLP27", "SaintFelixCNN", "SearsCNN038", "SaintFelixLSTM", "saintfelix_contract"]
