"""ImageNet backbones in plain PyTorch with exactly torchvision's parameter names and shapes.

torchvision is not a dependency of genrelab (it cannot be imported in every environment), yet the
image models of Qin et al. and Sirek et al. start from torchvision's ImageNet weights. The three
architectures they use are therefore written here module for module so that ``state_dict()`` has
the same keys, shapes and buffers as ``torchvision.models.{resnet18, efficientnet_b0, vgg11}``:

- :class:`ResNet18` - He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
  (torchvision ``resnet18``; 11,689,512 parameters with the 1000-class head).
- :class:`EfficientNetB0` - Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019
  (torchvision ``efficientnet_b0``; 5,288,548 parameters with the 1000-class head).
- :class:`VGG11` - Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
  Recognition", ICLR 2015, configuration "A" without batch norm (torchvision ``vgg11``;
  132,863,336 parameters with the 1000-class head).

The names are checked against key manifests generated from torchvision itself
(``tests/models/fixtures/torchvision_*_keys.json``). :func:`load_pretrained` loads an official
torchvision ImageNet weight file (``.pth`` read with ``torch.load(weights_only=True)``, never
unpickled, or ``.safetensors``) into a backbone with ``load_state_dict(strict=True)`` and keeps the
model's own, freshly initialised classification layer. Each backbone takes ``num_classes=None`` to
drop its classifier (models that put their own head on the features).

Inputs are ``(batch, 3, H, W)`` float images; every backbone is fully convolutional up to an adaptive
pooling, so any ``H, W >= 32`` works. ImageNet weights expect inputs normalised with
:data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genrelab.types import CheckpointError, ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: torchvision's official ImageNet weight files (``*_Weights.IMAGENET1K_V1``) and their sha256 prefixes.
TORCHVISION_WEIGHTS = {
    "resnet18": ("ResNet18_Weights", "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
    "efficientnet_b0": ("EfficientNet_B0_Weights", "https://download.pytorch.org/models/efficientnet_b0_rwightman-7f5810bc.pth"),
    "vgg11": ("VGG11_Weights", "https://download.pytorch.org/models/vgg11-8a719046.pth"),
}


class TorchvisionBackbone(nn.Module):
    """Base class: a module whose ``state_dict`` mirrors a torchvision model.

    ``head_prefix`` names the classifier's sub-tree (``"fc."`` or ``"classifier."``) and
    ``final_layer`` the last linear layer inside it (the one :func:`load_pretrained` never loads).
    """

    arch: str = ""
    head_prefix: str = ""
    final_layer: str = ""
    feature_channels: int = 0

    def forward_features(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def has_head(self) -> bool:
        return getattr(self, self.head_prefix.rstrip(".")) is not None


# --------------------------------------------------------------------------- ResNet-18


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with batch norm and an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + shortcut)


class ResNet18(TorchvisionBackbone):
    """ResNet-18 (He et al. 2016) with torchvision's names; ``(B, 3, H, W) -> (B, num_classes)``.

    ``forward_features`` returns the last stage's map ``(B, 512, ceil(H/32), ceil(W/32))``.
    """

    arch = "resnet18"
    head_prefix = "fc."
    final_layer = "fc"
    feature_channels = 512

    def __init__(self, num_classes: int | None = 1000, zero_init_residual: bool = False):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._stage(64, 2, stride=1)
        self.layer2 = self._stage(128, 2, stride=2)
        self.layer3 = self._stage(256, 2, stride=2)
        self.layer4 = self._stage(512, 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes) if num_classes else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.avgpool(self.forward_features(x)), 1)
        return x if self.fc is None else self.fc(x)


# --------------------------------------------------------------------------- EfficientNet-B0


def _make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNAct(nn.Sequential):
    """Conv (no bias, 'same'-style padding ``(k-1)//2``) -> BatchNorm -> optional activation.

    Children are ``0`` (conv), ``1`` (norm), ``2`` (activation), as torchvision's ``Conv2dNormActivation``.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.SiLU):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018) with 1x1 convs ``fc1``/``fc2``, SiLU then sigmoid gate."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


class StochasticDepth(nn.Module):
    """Drops the residual branch per example with probability ``p`` while training ("row" mode)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        noise = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
        noise.bernoulli_(survival).div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MBConv(nn.Module):
    """Mobile inverted bottleneck: [1x1 expand] -> depthwise kxk -> SE -> 1x1 project (+ residual)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int, sd_prob: float):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        hidden = _make_divisible(cin * expand)
        layers: list[nn.Module] = []
        if hidden != cin:
            layers.append(ConvBNAct(cin, hidden, 1))
        layers.append(ConvBNAct(hidden, hidden, kernel, stride, groups=hidden))
        layers.append(SqueezeExcitation(hidden, max(1, cin // 4)))
        layers.append(ConvBNAct(hidden, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(sd_prob)
        self.out_channels = cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        if self.use_res_connect:
            y = self.stochastic_depth(y) + x
        return y


#: EfficientNet-B0 stages: (expand ratio, kernel, stride, in, out, repeats).
_B0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


class EfficientNetB0(TorchvisionBackbone):
    """EfficientNet-B0 (Tan & Le 2019) with torchvision's names; ``(B, 3, H, W) -> (B, num_classes)``.

    ``forward_features`` returns ``(B, 1280, ceil(H/32), ceil(W/32))``. Stochastic depth rises
    linearly to ``stochastic_depth_prob`` (0.2) over the blocks; the classifier is
    ``Dropout(dropout) -> Linear(1280, num_classes)``.
    """

    arch = "efficientnet_b0"
    head_prefix = "classifier."
    final_layer = "classifier.1"
    feature_channels = 1280

    def __init__(self, num_classes: int | None = 1000, dropout: float = 0.2, stochastic_depth_prob: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = [ConvBNAct(3, _B0_STAGES[0][3], 3, stride=2)]
        total = sum(s[5] for s in _B0_STAGES)
        block_id = 0
        for expand, kernel, stride, cin, cout, repeats in _B0_STAGES:
            stage = []
            for i in range(repeats):
                sd = stochastic_depth_prob * block_id / total
                stage.append(MBConv(cin if i == 0 else cout, cout, expand, kernel, stride if i == 0 else 1, sd))
                block_id += 1
            layers.append(nn.Sequential(*stage))
        last_in = _B0_STAGES[-1][4]
        layers.append(ConvBNAct(last_in, 4 * last_in, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = (
            nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(4 * last_in, num_classes)) if num_classes else None
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                r = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -r, r)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return x if self.classifier is None else self.classifier(x)


# --------------------------------------------------------------------------- VGG11


def _adaptive_pool_matrix(size: int, out: int, like: Tensor) -> Tensor:
    """``(out, size)`` averaging matrix of PyTorch's adaptive pooling bins (floor start, ceil end)."""
    m = torch.zeros(out, size, dtype=like.dtype, device=like.device)
    for i in range(out):
        a, b = (i * size) // out, -((-(i + 1) * size) // out)
        m[i, a:b] = 1.0 / (b - a)
    return m


class AdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` that stays exportable to ONNX when the output does not divide the input.

    The TorchScript ONNX exporter only supports adaptive pooling whose output size divides the
    input size (VGG's 7 x 7 from a 9 x 13 map of a 288 x 432 image does not). While exporting, the
    same bins are computed as two averaging matrices (the spatial size is fixed in an export).
    """

    def forward(self, x: Tensor) -> Tensor:
        if not torch.onnx.is_in_onnx_export():
            return super().forward(x)
        oh, ow = _pair_size(self.output_size, x)
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if h % oh == 0 and w % ow == 0:
            return super().forward(x)
        return torch.einsum("ih,bchw,jw->bcij", _adaptive_pool_matrix(h, oh, x), x, _adaptive_pool_matrix(w, ow, x))


def _pair_size(size: Any, x: Tensor) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    return (int(size[0]) if size[0] is not None else int(x.shape[-2]),
            int(size[1]) if size[1] is not None else int(x.shape[-1]))


_VGG11_CFG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11(TorchvisionBackbone):
    """VGG11 (Simonyan & Zisserman 2015, configuration A, no batch norm) with torchvision's names.

    ``(B, 3, H, W) -> (B, num_classes)``: ``features`` (8 convs 3x3 + ReLU, 5 max pools) ->
    ``AdaptiveAvgPool2d(7, 7)`` -> ``classifier`` = Linear(25088, 4096) -> ReLU -> Dropout ->
    Linear(4096, 4096) -> ReLU -> Dropout -> Linear(4096, num_classes). ``forward_features``
    returns ``(B, 512, H // 32, W // 32)``.
    """

    arch = "vgg11"
    head_prefix = "classifier."
    final_layer = "classifier.6"
    feature_channels = 512

    def __init__(self, num_classes: int | None = 1000, dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in _VGG11_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(cin, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = AdaptiveAvgPool2d((7, 7))
        self.classifier = (
            nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
                nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
                nn.Linear(4096, num_classes),
            )
            if num_classes
            else None
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        if self.classifier is None:
            return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(torch.flatten(self.avgpool(x), 1))


BACKBONES: dict[str, type[TorchvisionBackbone]] = {"resnet18": ResNet18, "efficientnet_b0": EfficientNetB0, "vgg11": VGG11}


# --------------------------------------------------------------------------- pretrained weights


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a ``.safetensors`` or ``.pth`` weight file; ``.pth`` is read with ``weights_only=True``.

    Nothing is unpickled beyond tensors and plain containers: a file that needs arbitrary classes
    is refused by torch's safe loader.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weight file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # the safe unpickler refuses anything but tensors and containers
        raise CheckpointError(f"{path}: not a plain tensor file ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a dict of tensors (a torchvision state_dict)")
    return dict(obj)


def find_backbone(model: nn.Module) -> TorchvisionBackbone:
    """The torchvision-shaped backbone inside ``model`` (itself, or its ``backbone`` attribute)."""
    if isinstance(model, TorchvisionBackbone):
        return model
    bb = getattr(model, "backbone", None)
    if isinstance(bb, TorchvisionBackbone):
        return bb
    raise ConfigError(f"{type(model).__name__} has no torchvision-shaped backbone to load ImageNet weights into")


def load_pretrained(model: nn.Module, path: str | Path) -> nn.Module:
    """Load an official torchvision ImageNet weight file into ``model``'s backbone, keeping its head.

    Every backbone tensor must be present with the same name and shape
    (``load_state_dict(strict=True)``); the file's final classification layer (1000 ImageNet
    classes) is dropped and the model keeps its own freshly initialised one. Intermediate
    classifier layers that fit (VGG's two 4096-wide layers) are loaded too. Returns ``model``.
    """
    bb = find_backbone(model)
    state = read_state_dict(path)
    own = bb.state_dict()
    final = bb.final_layer + "."
    merged: dict[str, Tensor] = {}
    for k, v in state.items():
        if k.startswith(bb.head_prefix) and (k not in own or k.startswith(final)):
            continue  # ImageNet head (or a head this model does not have)
        merged[k] = v
    for k, v in own.items():
        if k.startswith(final):
            merged[k] = v  # keep the model's own final layer
    try:
        bb.load_state_dict(merged, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: not a torchvision {bb.arch} weight file: {exc}") from None
    return model


def torchvision_weights_file(arch: str, cache_dir: str | Path | None = None) -> Path:
    """Download torchvision's ImageNet weights for ``arch`` (needs network); returns the local path.

    Uses ``torchvision.models.*_Weights.IMAGENET1K_V1`` when torchvision is importable (so its URL
    and checksum are authoritative), else the same URL recorded in :data:`TORCHVISION_WEIGHTS`.
    The file is cached under ``cache_dir`` (default: torch hub's checkpoint folder).
    """
    if arch not in TORCHVISION_WEIGHTS:
        raise ConfigError(f"no torchvision weights known for {arch!r}; known: {', '.join(TORCHVISION_WEIGHTS)}")
    enum_name, url = TORCHVISION_WEIGHTS[arch]
    try:  # optional: the authoritative URL from torchvision's weight enum
        import torchvision.models as tvm  # type: ignore[import-not-found]

        url = getattr(tvm, enum_name).IMAGENET1K_V1.url
    except Exception:
        pass
    folder = Path(cache_dir) if cache_dir else Path(torch.hub.get_dir()) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / url.rsplit("/", 1)[-1]
    if not dst.exists():
        # torchvision file names embed the first hex digits of the file's sha256: check them.
        torch.hub.download_url_to_file(url, str(dst), hash_prefix=_hash_prefix(dst.name), progress=True)
    return dst


def _hash_prefix(filename: str) -> str | None:
    stem = filename.rsplit(".", 1)[0]
    tail = stem.rsplit("-", 1)[-1]
    return tail if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail) else None


def build_backbone(arch: str, **kwargs: Any) -> TorchvisionBackbone:
    try:
        return BACKBONES[arch](**kwargs)
    except KeyError:
        raise ConfigError(f"unknown backbone {arch!r}; known: {', '.join(BACKBONES)}") from None


__all__ = [
    "ResNet18", "EfficientNetB0", "VGG11", "TorchvisionBackbone", "BACKBONES", "IMAGENET_MEAN", "IMAGENET_STD",
    "TORCHVISION_WEIGHTS", "load_pretrained", "read_state_dict", "find_backbone", "torchvision_weights_file",
    "build_backbone",
]
