"""torchvision-compatible backbones: names and shapes against manifests made from torchvision itself,
ImageNet weight loading (strict, safe), and ONNX-friendly adaptive pooling."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from zoo_cases import one_torch_thread  # noqa: F401

from genrelab.models import registry
from genrelab.models.backbones import (
    BACKBONES, AdaptiveAvgPool2d, EfficientNetB0, ResNet18, _hash_prefix, find_backbone, load_pretrained,
    read_state_dict, torchvision_weights_file,
)
from genrelab.types import CheckpointError, ConfigError

FIXTURES = Path(__file__).parent / "fixtures"


def _manifest(arch: str) -> list[list]:
    return json.loads((FIXTURES / f"torchvision_{arch}_keys.json").read_text())


@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_state_dict_matches_torchvision_manifest(arch):
    with torch.device("meta"):
        model = BACKBONES[arch](num_classes=1000)
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == _manifest(arch)


@pytest.mark.parametrize("arch,params", [("resnet18", 11_689_512), ("efficientnet_b0", 5_288_548),
                                         ("vgg11", 132_863_336)])
def test_imagenet_parameter_counts(arch, params):
    with torch.device("meta"):
        model = BACKBONES[arch](num_classes=1000)
    assert sum(p.numel() for p in model.parameters()) == params


@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_headless_backbone_drops_only_the_classifier(arch):
    with torch.device("meta"):
        model = BACKBONES[arch](num_classes=None)
    head = BACKBONES[arch].head_prefix
    expected = [[k, s] for k, s in _manifest(arch) if not k.startswith(head)]
    assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == expected


def _imagenet_like(cls, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict shaped like torchvision's ImageNet file for ``cls`` (random values)."""
    torch.manual_seed(seed)
    state = cls(num_classes=1000).state_dict()
    for k, v in state.items():
        if v.dtype.is_floating_point:
            v.copy_(torch.randn_like(v) * 0.02 + (1.0 if k.endswith("running_var") else 0.0))
    return state


def test_load_resnet18_pth_into_qin_model(tmp_path):
    state = _imagenet_like(ResNet18)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(state, path)
    model = registry.build("qin-resnet18", 10)
    fc_before = model.backbone.fc.weight.detach().clone()
    load_pretrained(model, path)
    got = model.backbone.state_dict()
    for k, v in state.items():
        if not k.startswith("fc."):
            assert torch.equal(got[k], v), k
    assert model.backbone.fc.weight.shape == (10, 512)
    assert torch.equal(model.backbone.fc.weight, fc_before)  # the new head is kept


def test_load_efficientnet_safetensors_into_headless_gru_model(tmp_path):
    from safetensors.torch import save_file

    state = _imagenet_like(EfficientNetB0)
    path = tmp_path / "efficientnet_b0.safetensors"
    save_file(state, str(path))
    model = registry.build("sirek-efficientnet-b0-gru", 10)
    load_pretrained(model, path)
    got = model.backbone.state_dict()
    assert set(got) == {k for k in state if not k.startswith("classifier.")}
    for k, v in got.items():
        assert torch.equal(v, state[k]), k
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 96)).shape == (1, 10)


@pytest.mark.slow
def test_load_vgg11_keeps_both_4096_layers(tmp_path):
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(*shape, generator=g) * 0.01 for k, shape in _manifest("vgg11")}
    path = tmp_path / "vgg11.safetensors"
    save_file(state, str(path))
    model = registry.build("sirek-vgg11", 10)
    load_pretrained(model, path)
    got = model.backbone.state_dict()
    for k in ("features.0.weight", "features.18.bias", "classifier.0.weight", "classifier.3.bias"):
        assert torch.equal(got[k], state[k])
    assert got["classifier.6.weight"].shape == (10, 4096)


def test_wrong_architecture_is_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(_imagenet_like(ResNet18), path)
    with pytest.raises(CheckpointError, match="efficientnet_b0"):
        load_pretrained(registry.build("sirek-efficientnet-b0", 10), path)


def test_missing_tensor_is_refused(tmp_path):
    state = _imagenet_like(ResNet18)
    del state["layer3.0.conv1.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="layer3.0.conv1.weight"):
        load_pretrained(ResNet18(num_classes=10), path)


class _Evil:
    def __reduce__(self):  # would run code if unpickled unsafely
        return (print, ("unpickled!",))


def test_pickled_objects_are_never_loaded(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="not a plain tensor file"):
        read_state_dict(path)
    assert "unpickled!" not in capsys.readouterr().out
    torch.save({"conv1.weight": 3}, tmp_path / "notensors.pth")
    with pytest.raises(CheckpointError, match="dict of tensors"):
        read_state_dict(tmp_path / "notensors.pth")
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "absent.pth")


def test_models_without_backbone_are_refused():
    with pytest.raises(ConfigError, match="no torchvision-shaped backbone"):
        find_backbone(registry.build("qin-mlp", 10))


def test_pretrained_arch_of_image_models():
    for name, arch in [("qin-resnet18", "resnet18"), ("sirek-efficientnet-b0", "efficientnet_b0"),
                       ("sirek-efficientnet-b0-gru", "efficientnet_b0"), ("sirek-vgg11", "vgg11")]:
        cls = registry.get(name).cls
        assert cls.pretrained_arch == arch
        with torch.device("meta"):
            assert find_backbone(cls(n_classes=3)).arch == arch


def test_weight_file_names_and_unknown_arch():
    assert _hash_prefix("resnet18-f37072fd.pth") == "f37072fd"
    assert _hash_prefix("efficientnet_b0_rwightman-7f5810bc.pth") == "7f5810bc"
    assert _hash_prefix("mine.pth") is None
    with pytest.raises(ConfigError):
        torchvision_weights_file("resnet50")


def test_adaptive_pool_exports_when_sizes_do_not_divide(tmp_path):
    from genrelab.export import export_onnx, run_onnx

    pool = AdaptiveAvgPool2d((7, 7))
    x = torch.randn(2, 4, 9, 13)
    torch.testing.assert_close(pool(x), torch.nn.functional.adaptive_avg_pool2d(x, (7, 7)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = export_onnx(pool, (4, 9, 13), tmp_path / "pool.onnx", exporter="torchscript")
    np.testing.assert_allclose(run_onnx(path, x.numpy()), pool(x).numpy(), rtol=1e-5, atol=1e-6)
