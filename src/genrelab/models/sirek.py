"""Sirek, Zamir & Shtamberger: CNNs, CNN+GRU and ImageNet backbones on 3-second GTZAN mel images.

Each 30 s GTZAN clip is cut into ten 3 s segments; each segment becomes a 3 x 288 x 432 mel-spectrogram
image (the Kaggle ``images_original`` rendering, time along the width) and one training example.
A clip is classified by aggregating its segments.

Paper vs. code: the study's CNN+GRU code hands the GRU a ``(batch, 1, features)`` tensor without
``batch_first=True``, so PyTorch reads it as a sequence whose *time* axis is the batch: the GRU
runs across the examples of a mini-batch (each prediction depends on the other examples, and on
their order) instead of along each spectrogram's time axis. The models here run the bidirectional
GRU over the time axis of each example's feature map; ``gru_over_batch=True`` reproduces the
study's behaviour for comparison.
"""

from __future__ import annotations

from torch import Tensor, nn

from genrelab.models.backbones import VGG11, EfficientNetB0
from genrelab.models.layers import bidirectional_final
from genrelab.models.registry import InputContract, register

IMAGE_SHAPE = (3, 288, 432)


def segment_image_contract() -> InputContract:
    """3 x 288 x 432 mel-spectrogram images of the ten back-to-back 3 s segments of the 30 s clip
    (:func:`genrelab.features.images.omier_image_spec`, the study code's rendering)."""
    from genrelab.features.images import omier_image_spec

    return InputContract(omier_image_spec(), IMAGE_SHAPE)


class _SirekBase(nn.Module):
    @classmethod
    def input_contract(cls) -> InputContract:
        return segment_image_contract()


@register("sirek-cnn3", family="sirek", tags=("gtzan", "image"))
class SirekCNN3(_SirekBase):
    """Sirek et al.'s 3-layer CNN: Conv 16/32/64 3x3 (padding 1), each ReLU -> MaxPool 2;
    flatten (64 x 36 x 54) -> FC 128 ReLU -> FC 64 ReLU -> n_classes.

    Input ``(batch, 3, 288, 432)``; output logits ``(batch, n_classes)``. The first FC layer sees the
    whole 36 x 54 map, so the input size is fixed by ``image_size``.
    """

    def __init__(self, n_classes: int = 10, image_size: tuple[int, int] = IMAGE_SHAPE[1:]):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in (16, 32, 64):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        h, w = image_size
        for _ in range(3):
            h, w = h // 2, w // 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * h * w, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, n_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class SirekCNN4Features(nn.Sequential):
    """Conv 32/64/128/256 3x3 (padding 1) + BatchNorm + ReLU, MaxPool 2, 2, 4, 8: (3, 288, 432) -> (256, 2, 3)."""

    def __init__(self):
        layers: list[nn.Module] = []
        cin = 3
        for cout, pool in ((32, 2), (64, 2), (128, 4), (256, 8)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(pool)]
            cin = cout
        super().__init__(*layers)

    @staticmethod
    def out_shape(h: int, w: int) -> tuple[int, int, int]:
        for pool in (2, 2, 4, 8):
            h, w = h // pool, w // pool
        return 256, h, w


@register("sirek-cnn4", family="sirek", tags=("gtzan", "image"))
class SirekCNN4(_SirekBase):
    """Sirek et al.'s 4-layer CNN: :class:`SirekCNN4Features` -> Dropout 0.2 -> flatten (256 x 2 x 3)
    -> FC 512 ReLU -> FC 256 ReLU -> n_classes.

    Input ``(batch, 3, 288, 432)``; output logits ``(batch, n_classes)``.
    """

    def __init__(self, n_classes: int = 10, dropout: float = 0.2, image_size: tuple[int, int] = IMAGE_SHAPE[1:]):
        super().__init__()
        self.features = SirekCNN4Features()
        c, h, w = SirekCNN4Features.out_shape(*image_size)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Flatten(), nn.Linear(c * h * w, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
            nn.Linear(256, n_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def _gru_over_batch(gru: nn.GRU, feats: Tensor) -> Tensor:
    """The study's variant: ``(B, F)`` fed as a length-B sequence of one example (batch_first=False)."""
    out, _ = gru(feats.unsqueeze(1))  # (seq=B, batch=1, F) -> (B, 1, 2H)
    return out[:, 0]


@register("sirek-cnn4-gru", family="sirek", tags=("gtzan", "image", "sequence"))
class SirekCNN4GRU(_SirekBase):
    """Sirek et al.'s CNN+GRU: :class:`SirekCNN4Features` -> bidirectional GRU over the time axis -> FC -> n_classes.

    The (256, 2, 3) feature map is read as 3 time steps (image width) of 256 x 2 = 512 features; the
    GRU's final forward and backward states (2 x ``hidden``) -> Dropout -> Linear -> n_classes.
    Input ``(batch, 3, 288, 432)``; output logits ``(batch, n_classes)``.

    ``gru_over_batch=True``: the study's code (see the module docstring): the flattened map
    (1536 values) of each example is one step of a sequence running across the mini-batch; the
    examples are no longer independent, so evaluate that variant with the training batch size.
    """

    def __init__(self, n_classes: int = 10, hidden: int = 128, dropout: float = 0.2, gru_over_batch: bool = False,
                 image_size: tuple[int, int] = IMAGE_SHAPE[1:]):
        super().__init__()
        self.features = SirekCNN4Features()
        c, h, w = SirekCNN4Features.out_shape(*image_size)
        self.gru_over_batch = gru_over_batch
        self.gru = nn.GRU(c * h * w if gru_over_batch else c * h, hidden, batch_first=not gru_over_batch,
                          bidirectional=True)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, n_classes))

    def forward(self, x: Tensor) -> Tensor:
        f = self.features(x)  # (B, C, H, W)
        if self.gru_over_batch:
            z = _gru_over_batch(self.gru, f.flatten(1))
        else:
            b, c, h, w = f.shape
            seq = f.permute(0, 3, 1, 2).reshape(b, w, c * h)  # time = width
            _, h_n = self.gru(seq)
            z = bidirectional_final(h_n)
        return self.classifier(z)


@register("sirek-efficientnet-b0", family="sirek", tags=("gtzan", "image", "imagenet"))
class SirekEfficientNetB0(_SirekBase):
    """Sirek et al.'s EfficientNet-B0: torchvision's EfficientNet-B0 (Tan & Le 2019) features ->
    global average pooling -> Dropout 0.2 -> Linear(1280, n_classes).

    ``backbone`` has exactly torchvision's parameter names (its ``classifier.1`` sized for
    ``n_classes``); ImageNet initialisation with
    ``genrelab.models.backbones.load_pretrained(model, "efficientnet_b0_rwightman-7f5810bc.pth")``.
    Input ``(batch, 3, 288, 432)`` (any size >= 32 x 32); output logits ``(batch, n_classes)``.
    """

    pretrained_arch = "efficientnet_b0"

    def __init__(self, n_classes: int = 10, dropout: float = 0.2):
        super().__init__()
        self.backbone = EfficientNetB0(num_classes=n_classes, dropout=dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)


@register("sirek-efficientnet-b0-gru", family="sirek", tags=("gtzan", "image", "imagenet", "sequence"))
class SirekEfficientNetB0GRU(_SirekBase):
    """Sirek et al.'s EfficientNet-B0 + GRU: EfficientNet-B0 features (1280 x 9 x 14 for 288 x 432)
    -> average over frequency (height) -> bidirectional GRU over the 14 time steps -> final states
    (2 x ``hidden``) -> Dropout 0.2 -> Linear -> n_classes.

    ``backbone`` is torchvision's EfficientNet-B0 without classifier (ImageNet weights load with
    :func:`~genrelab.models.backbones.load_pretrained`). Input ``(batch, 3, 288, 432)``; output
    logits ``(batch, n_classes)``. ``gru_over_batch=True`` reproduces the study's GRU over the
    batch axis (globally pooled 1280-d features as the steps), see the module docstring.
    """

    pretrained_arch = "efficientnet_b0"

    def __init__(self, n_classes: int = 10, hidden: int = 128, dropout: float = 0.2, gru_over_batch: bool = False):
        super().__init__()
        self.backbone = EfficientNetB0(num_classes=None)
        self.gru_over_batch = gru_over_batch
        self.gru = nn.GRU(EfficientNetB0.feature_channels, hidden, batch_first=not gru_over_batch, bidirectional=True)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, n_classes))

    def forward(self, x: Tensor) -> Tensor:
        f = self.backbone.forward_features(x)  # (B, 1280, H', W')
        if self.gru_over_batch:
            z = _gru_over_batch(self.gru, f.mean(dim=(2, 3)))
        else:
            seq = f.mean(dim=2).transpose(1, 2)  # (B, W', 1280): time = width
            _, h_n = self.gru(seq)
            z = bidirectional_final(h_n)
        return self.classifier(z)


@register("sirek-vgg11", family="sirek", tags=("gtzan", "image", "imagenet"))
class SirekVGG11(_SirekBase):
    """Sirek et al.'s VGG11: torchvision's VGG11 (Simonyan & Zisserman 2015) with its last layer
    replaced: features -> adaptive average pooling to 7 x 7 -> classifier 25088-4096-4096 (ReLU,
    Dropout 0.5) -> n_classes.

    ``backbone`` has exactly torchvision's names; :func:`~genrelab.models.backbones.load_pretrained`
    loads the ImageNet features and both 4096-wide layers and keeps a fresh ``classifier.6``.
    ``head="linear"`` swaps the 120 M-parameter classifier for global average pooling ->
    Linear(512, n_classes) (a lighter variant, not the study's). Input ``(batch, 3, 288, 432)``
    (any size >= 32 x 32); output logits ``(batch, n_classes)``.
    """

    pretrained_arch = "vgg11"

    def __init__(self, n_classes: int = 10, head: str = "torchvision", dropout: float = 0.5):
        super().__init__()
        if head not in ("torchvision", "linear"):
            raise ValueError("head must be 'torchvision' or 'linear'")
        self.head = head
        if head == "torchvision":
            self.backbone = VGG11(num_classes=n_classes, dropout=dropout)
            self.fc = None
        else:
            self.backbone = VGG11(num_classes=None)
            self.fc = nn.Linear(VGG11.feature_channels, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        y = self.backbone(x)
        return y if self.fc is None else self.fc(y)


__all__ = [
    "SirekCNN3", "SirekCNN4", "SirekCNN4GRU", "SirekEfficientNetB0", "SirekEfficientNetB0GRU", "SirekVGG11",
    "SirekCNN4Features", "segment_image_contract",
]
