"""The registered musicnn models: the four pretrained taggers and a pretrained backbone with a new head.

Registrations only; the networks, their weights and their runtime live in :mod:`genrelab.musicnn`.
Registered names: ``musicnn-msd``, ``musicnn-mtt``, ``vgg-msd``, ``vgg-mtt`` (the taggers of Pons & Serra
2019; with ``n_classes != 50`` the tag layer is replaced by a new one) and ``musicnn`` (a pretrained
backbone plus a new classification head, for fine-tuning on genres). Input: log-mel patches
``(batch, 187, 96)`` (feature ``musicnn-mel``); output: logits ``(batch, n_classes)``.
"""

from __future__ import annotations

import torch
from torch import nn

from genrelab.features.config import FeatureConfig, InputSpec
from genrelab.models.registry import InputContract, register
from genrelab.musicnn.info import N_MELS, PATCH_FRAMES, PATCH_SAMPLES, PRETRAINED, check_model_name, labels
from genrelab.musicnn.network import build_net
from genrelab.musicnn.weights import load_pretrained


# --------------------------------------------------------------------------- registry entries
def _contract() -> InputContract:
    """One 187-frame log-mel patch: a segment of :data:`~genrelab.musicnn.info.PATCH_SAMPLES` samples (the
    patch's 187 hops), feature kind ``musicnn-mel`` (found through the feature registry, not imported)."""
    spec = InputSpec(feature=FeatureConfig.from_dict({"kind": "musicnn-mel"}), segment_samples=PATCH_SAMPLES)
    return InputContract(spec, (PATCH_FRAMES, N_MELS))


class _Tagger(nn.Module):
    """Base of the four registered pretrained taggers."""

    source: str = ""

    def __init__(self, n_classes: int = 50, pretrained: bool = True):
        super().__init__()
        n_tags = len(PRETRAINED[self.source]["labels"])
        if pretrained:
            self.net = load_pretrained(self.source, n_classes)
            self.net.train()
        else:
            self.net = build_net(self.source, n_classes)
        self.n_classes = n_classes
        self.replaced_head = n_classes != n_tags

    @classmethod
    def input_contract(cls) -> InputContract:
        return _contract()

    @property
    def tag_labels(self) -> list[str]:
        return labels(self.source)

    def forward_features(self, x: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        return self.net.forward_features(x, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register("musicnn-msd", family="musicnn", tags=("pretrained", "tagger"))
class MusicnnMSD(_Tagger):
    """musicnn tagger pretrained on the Million Song Dataset (50 Last.fm tags).

    Pons & Serra 2019 (musicnn package). Input: log-mel patches ``(B, 187, 96)``; output: tag logits ``(B, n_classes)``.
    """

    source = "MSD_musicnn"


@register("musicnn-mtt", family="musicnn", tags=("pretrained", "tagger"))
class MusicnnMTT(_Tagger):
    """musicnn tagger pretrained on MagnaTagATune (50 tags).

    Pons & Serra 2019 (musicnn package). Input: log-mel patches ``(B, 187, 96)``; output: tag logits ``(B, n_classes)``.
    """

    source = "MTT_musicnn"


@register("vgg-msd", family="musicnn", tags=("pretrained", "tagger"))
class VggMSD(_Tagger):
    """VGG-like tagger of the musicnn package, pretrained on the Million Song Dataset (50 tags).

    Pons & Serra 2019 (musicnn package). Input: log-mel patches ``(B, 187, 96)``; output: tag logits ``(B, n_classes)``.
    """

    source = "MSD_vgg"


@register("vgg-mtt", family="musicnn", tags=("pretrained", "tagger"))
class VggMTT(_Tagger):
    """VGG-like tagger of the musicnn package, pretrained on MagnaTagATune (50 tags).

    Pons & Serra 2019 (musicnn package). Input: log-mel patches ``(B, 187, 96)``; output: tag logits ``(B, n_classes)``.
    """

    source = "MTT_vgg"


@register("musicnn", family="musicnn", tags=("pretrained", "transfer"))
class MusicnnClassifier(nn.Module):
    """Pretrained musicnn (or vgg) backbone + a new classification head, for fine-tuning on genres.

    ``backbone``: one of MSD_musicnn (default), MTT_musicnn, MSD_vgg, MTT_vgg. The head is dropout +
    linear on the backbone's penultimate layer (200-d musicnn, 256-d vgg); ``hidden`` > 0 inserts an
    MLP layer. ``freeze_backbone`` trains the head only (the backbone stays in eval mode: BatchNorm
    statistics frozen). ``pretrained=False`` starts from random weights (a from-scratch baseline).
    Input: log-mel patches ``(B, 187, 96)`` (feature ``musicnn-mel``); output: logits ``(B, n_classes)``.
    """

    def __init__(self, n_classes: int, backbone: str = "MSD_musicnn", pretrained: bool = True,
                 dropout: float = 0.5, hidden: int = 0, freeze_backbone: bool = False):
        super().__init__()
        check_model_name(backbone)
        self.backbone = load_pretrained(backbone, None) if pretrained else build_net(backbone, None)
        self.freeze_backbone = bool(freeze_backbone)
        if self.freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad_(False)
        dim = self.backbone.embedding_dim
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout)]
            dim = hidden
        layers.append(nn.Linear(dim, n_classes))
        self.head = nn.Sequential(*layers)
        self.train()

    @classmethod
    def input_contract(cls) -> InputContract:
        return _contract()

    def train(self, mode: bool = True) -> "MusicnnClassifier":
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.embed(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.embed(x))
