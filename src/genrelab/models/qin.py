"""Qin, Zhuo & Ren: MLP, LSTM and ResNet-18 genre classifiers on GTZAN.

Three models over three inputs of the same 30 s GTZAN clips: the 57 Kaggle "GTZAN features" of the
whole clip (MLP), the same 57 features of 9 consecutive 3 s segments as a sequence (LSTM), and the
Kaggle-style mel-spectrogram image of the clip (ResNet-18, optionally ImageNet-initialised).
"""

from __future__ import annotations

from torch import Tensor, nn

from genrelab.models.backbones import ResNet18
from genrelab.models.registry import InputContract, register


def gtzan57_clip_contract() -> InputContract:
    """The 57 GTZAN features of the whole clip (Kaggle ``features_30_sec.csv`` columns).

    The clip is used as decoded, without cropping to 30.0 s: the Kaggle table was computed on the
    whole 30.01 s GTZAN clips, and even a 13 ms crop moves some MFCC variances by up to 3.8% of the
    column's standard deviation, beyond the parity bound that lets table-trained models classify audio.
    """
    from genrelab.features.gtzan57 import gtzan57_spec

    return InputContract(gtzan57_spec(), (57,))


def clip_image_contract() -> InputContract:
    """A 3 x 288 x 432 mel-spectrogram image of the whole 30 s clip (Kaggle ``images_original`` layout)."""
    from genrelab.features.images import qin_image_spec

    return InputContract(qin_image_spec(), (3, 288, 432))


@register("qin-mlp", family="qin", tags=("gtzan", "features"))
class QinMLP(nn.Module):
    """Qin et al.'s MLP on the 57 GTZAN features: 57 -> 64 -> 128 -> n_classes, LeakyReLU, LogSigmoid.

    Input ``(batch, 57)`` (the Kaggle ``features_30_sec.csv`` columns in
    :data:`genrelab.features.gtzan57.GTZAN57_COLUMNS` order, z-scored); output ``(batch, n_classes)``
    scores, trained with softmax cross-entropy like every torch model here.

    The study's network ends in ``LogSigmoid`` (the default, ``logsigmoid_output=True``). LogSigmoid
    outputs are not class log-probabilities (they do not normalise across classes and are <= 0, which
    squeezes the softmax the loss applies on top); ``logsigmoid_output=False`` is the improved variant
    (plain logits). Both rank classes the same way at inference.
    """

    def __init__(self, n_classes: int = 10, hidden: tuple[int, int] = (64, 128), negative_slope: float = 0.01,
                 logsigmoid_output: bool = True):
        super().__init__()
        h1, h2 = hidden
        self.net = nn.Sequential(
            nn.Linear(57, h1), nn.LeakyReLU(negative_slope),
            nn.Linear(h1, h2), nn.LeakyReLU(negative_slope),
            nn.Linear(h2, n_classes),
        )
        self.out_act = nn.LogSigmoid() if logsigmoid_output else nn.Identity()

    @classmethod
    def input_contract(cls) -> InputContract:
        return gtzan57_clip_contract()

    def forward(self, x: Tensor) -> Tensor:
        return self.out_act(self.net(x))


@register("qin-lstm", family="qin", tags=("gtzan", "features", "sequence"))
class QinLSTM(nn.Module):
    """Qin et al.'s LSTM over segments: 9 x 57 GTZAN features -> 3-layer LSTM -> Linear -> n_classes.

    Input ``(batch, n_segments=9, 57)``: the 57 GTZAN features of 9 back-to-back 3 s segments of
    the clip (the Kaggle ``features_3_sec.csv`` segments of 66,149 samples), in time order. The last layer's output at
    the last step goes through a linear layer; output logits ``(batch, n_classes)``.

    The study tuned the learning rate, the number of nodes and of layers; its best LSTM has 64 nodes
    (``hidden_size=64``, the default) and learning rate 8e-5 (``recipes/qin.yaml`` sweeps all three).
    """

    def __init__(self, n_classes: int = 10, hidden_size: int = 64, num_layers: int = 3, dropout: float = 0.0,
                 n_segments: int = 9):
        super().__init__()
        self.n_segments = n_segments
        self.lstm = nn.LSTM(57, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout)
        self.fc = nn.Linear(hidden_size, n_classes)

    @classmethod
    def input_contract(cls, n_segments: int = 9) -> InputContract:
        import dataclasses

        from genrelab.features.gtzan57 import qin_lstm_spec

        spec = qin_lstm_spec()  # back-to-back Kaggle 3 s segments (66,149 samples), as one sequence
        if n_segments != spec.n_segments:
            spec = dataclasses.replace(spec, n_segments=n_segments)
        return InputContract(spec, (n_segments, 57))

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


@register("qin-resnet18", family="qin", tags=("gtzan", "image", "imagenet"))
class QinResNet18(nn.Module):
    """Qin et al.'s ResNet-18 on 3 x 288 x 432 mel-spectrogram images, final layer -> n_classes.

    ``backbone`` is torchvision's ResNet-18 (He et al. 2016) with exactly its parameter names, its
    ``fc`` replaced by ``Linear(512, n_classes)``. ImageNet initialisation:
    ``genrelab.models.backbones.load_pretrained(model, "resnet18-f37072fd.pth")`` (the official
    torchvision file; the training CLI's ``--pretrained-weights``). Input ``(batch, 3, 288, 432)``
    images (any size >= 32 x 32 works: global average pooling); output logits ``(batch, n_classes)``.
    """

    pretrained_arch = "resnet18"

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.backbone = ResNet18(num_classes=n_classes)

    @classmethod
    def input_contract(cls) -> InputContract:
        return clip_image_contract()

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)


__all__ = ["QinMLP", "QinLSTM", "QinResNet18", "gtzan57_clip_contract", "clip_image_contract"]
