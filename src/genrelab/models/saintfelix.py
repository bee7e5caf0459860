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

from torch import Tensor, nn

from genrelab.models.layers import KerasMaxPool2d, keras_bn, keras_init_, mlp
from genrelab.models.registry import InputContract, register

N_FRAMES = 125
N_MFCC = 13


def saintfelix_contract() -> InputContract:
    """(125, 13) MFCC per 63,945-sample slice, 10 slices of the first 29 s at 22,050 Hz."""
    from genrelab.features.spectral import saintfelix_mfcc_spec

    return InputContract(saintfelix_mfcc_spec(), (N_FRAMES, N_MFCC))


class _SaintFelixBase(nn.Module):
    @classmethod
    def input_contract(cls) -> InputContract:
        return saintfelix_contract()


class _SaintFelixMLP(_SaintFelixBase):
    hidden: tuple[int, ...] = ()

    def __init__(self, n_classes: int = 10, dropout: float = 0.0):
        super().__init__()
        sizes = (N_FRAMES * N_MFCC, *self.hidden)
        self.net = nn.Sequential(nn.Flatten(), *mlp(sizes, nn.ReLU, dropout), nn.Linear(sizes[-1], n_classes))
        keras_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@register("saintfelix-mlp", family="saintfelix", tags=("gtzan", "mfcc"))
class SaintFelixMLP(_SaintFelixMLP):
    """Saint-Félix's MLP: flatten (125 x 13 = 1625) -> 512-512-256-128-64 ReLU -> n_classes.

    Input ``(batch, 125, 13)`` MFCC slices (time-major); output logits ``(batch, n_classes)``.
    ``dropout`` (default 0, as in the study) adds dropout after every hidden layer.
    """

    hidden = (512, 512, 256, 128, 64)


@register("sears-mlp27", family="saintfelix", tags=("gtzan", "mfcc"))
class SearsMLP27(_SaintFelixMLP):
    """Sears' ``mlp27``: flatten (1625) -> 512-512-256-256-128-64 ReLU -> n_classes.

    Input ``(batch, 125, 13)``; output logits ``(batch, n_classes)``. The deeper sibling of
    ``saintfelix-mlp`` (one more 256-wide layer).
    """

    hidden = (512, 512, 256, 256, 128, 64)


class _SaintFelixCNN(_SaintFelixBase):
    """Three Keras conv blocks on the (125, 13) MFCC "image" (one channel), then a dense head."""

    def __init__(self, n_classes: int, dense: tuple[int, ...], dropouts: tuple[float, ...]):
        super().__init__()

        def block(cin: int, k: int, pool: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, 32, k), nn.ReLU(), KerasMaxPool2d(pool, 2, "same"), keras_bn(32)]

        self.features = nn.Sequential(*block(1, 3, 3), *block(32, 3, 3), *block(32, 2, 2), nn.Flatten())
        # (125, 13) -conv3-> (123, 11) -pool-> (62, 6) -conv3-> (60, 4) -pool-> (30, 2) -conv2-> (29, 1) -pool-> (15, 1)
        flat = 32 * 15 * 1
        head: list[nn.Module] = []
        sizes = (flat, *dense)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            head += [nn.Dropout(dropouts[i]), nn.Linear(a, b), nn.ReLU()]
        if len(dropouts) > len(dense):
            head.append(nn.Dropout(dropouts[len(dense)]))
        head.append(nn.Linear(sizes[-1], n_classes))
        self.classifier = nn.Sequential(*head)
        keras_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)  # (B, 125, 13) -> (B, 1, 125, 13), Keras' trailing channel axis
        return self.classifier(self.features(x))


@register("saintfelix-cnn", family="saintfelix", tags=("gtzan", "mfcc"))
class SaintFelixCNN(_SaintFelixCNN):
    """Saint-Félix's ``cnn_base``: [Conv 32 3x3 ReLU -> MaxPool 3x3/2 'same' -> BatchNorm] x 2,
    Conv 32 2x2 ReLU -> MaxPool 2x2/2 'same' -> BatchNorm -> Dropout 0.3 -> Dense 64 ReLU -> n_classes.

    Input ``(batch, 125, 13)`` (or ``(batch, 1, 125, 13)``); the flattened map is 32 x 15 x 1 = 480
    values. Output logits ``(batch, n_classes)``.
    """

    def __init__(self, n_classes: int = 10):
        super().__init__(n_classes, dense=(64,), dropouts=(0.3,))


@register("sears-cnn038", family="saintfelix", tags=("gtzan", "mfcc"))
class SearsCNN038(_SaintFelixCNN):
    """Sears' ``cnn_03.8``: the ``cnn_base`` convolutions with a wider, more regularised head:
    Dropout 0.4 -> Dense 128 ReLU -> Dropout 0.3 -> Dense 64 ReLU -> Dropout 0.2 -> n_classes.

    Input ``(batch, 125, 13)``; output logits ``(batch, n_classes)``.
    """

    def __init__(self, n_classes: int = 10):
        super().__init__(n_classes, dense=(128, 64), dropouts=(0.4, 0.3, 0.2))


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


__all__ = ["SaintFelixMLP", "SearsMLP27", "SaintFelixCNN", "SearsCNN038", "SaintFelixLSTM", "saintfelix_contract"]
