"""ImageNet weights by default (training.pretrained), against a local HTTP server on 127.0.0.1: download on
first use, SHA-256 prefix check as torchvision's check_hash, cache, resume, refusal, warning, --no-pretrained."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import torch

from genrelab.models import backbones, registry
from genrelab.training import pretrained as P
from genrelab.training.config import TrainConfig
from genrelab.types import ConfigError
from http_archive_server import ArchiveServer


def pth_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


@pytest.fixture
def server(monkeypatch, tmp_path):
    s = ArchiveServer().start()
    monkeypatch.setenv(P.MIRROR_ENV, s.base)
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "cache"))
    yield s
    s.stop()


def publish(server, monkeypatch, data: bytes, arch: str = "resnet18", prefix: str | None = None) -> str:
    """Serve ``data`` under a torchvision-style name whose hash prefix is ``prefix`` (default: the true one)."""
    prefix = prefix or hashlib.sha256(data).hexdigest()[:8]
    name = f"{arch}-{prefix}.pth"
    monkeypatch.setitem(backbones.TORCHVISION_WEIGHTS, arch, ("X_Weights", f"https://download.pytorch.org/models/{name}"))
    server.files["/" + name] = data
    return name


SMALL = pth_bytes({"w": torch.arange(20000, dtype=torch.float32)})


def test_download_checks_the_prefix_caches_and_loads_as_tensors(server, monkeypatch):
    name = publish(server, monkeypatch, SMALL)
    path = P.fetch_imagenet_weights("resnet18")
    assert path == P.weights_dir() / name and path.read_bytes() == SMALL
    assert not list(path.parent.glob("*.unverified*"))
    assert torch.equal(backbones.read_state_dict(path)["w"], torch.arange(20000, dtype=torch.float32))  # weights_only
    n = len(server.requests)
    assert P.fetch_imagenet_weights("resnet18") == path
    assert len(server.requests) == n  # cached: no second request


def test_interrupted_download_resumes_with_a_range_request(server, monkeypatch):
    name = publish(server, monkeypatch, SMALL)
    server.drop_after["/" + name], server.drops["/" + name] = 30000, 1
    assert P.fetch_imagenet_weights("resnet18").read_bytes() == SMALL
    assert server.requests[-1] == ("/" + name, "bytes=30000-")


def test_checksum_mismatch_is_refused_and_nothing_is_cached(server, monkeypatch):
    name = publish(server, monkeypatch, SMALL, prefix="00000000")
    with pytest.raises(P.PretrainedUnavailable, match="should start with 00000000"):
        P.fetch_imagenet_weights("resnet18")
    assert not (P.weights_dir() / name).exists()
    assert not list(P.weights_dir().glob("*.unverified*"))


def test_sha256_prefix_of_torchvision_names():
    assert P.sha256_prefix("resnet18-f37072fd.pth") == "f37072fd"
    assert P.sha256_prefix("efficientnet_b0_rwightman-7f5810bc.pth") == "7f5810bc"
    with pytest.raises(ConfigError):
        P.sha256_prefix("weights.pth")


def cfg(model: str, **kw) -> TrainConfig:
    return TrainConfig(model=model, **kw)


def test_unavailable_weights_warn_loudly_and_train_from_scratch(server, monkeypatch):
    publish(server, monkeypatch, SMALL)
    server.files.clear()  # 404
    entry = registry.get("qin-resnet18")
    with pytest.warns(UserWarning, match="TRAINING FROM SCRATCH"):
        out = P.resolve_pretrained(cfg("qin-resnet18"), entry)
    assert out.pretrained is False and out.pretrained_weights is None
    with pytest.raises(P.PretrainedUnavailable):  # asked for explicitly: no fallback
        P.resolve_pretrained(cfg("qin-resnet18", pretrained=True), entry)


def test_no_pretrained_and_local_files_skip_the_download(server, monkeypatch, tmp_path):
    publish(server, monkeypatch, SMALL)
    entry = registry.get("sirek-vgg11")
    assert P.resolve_pretrained(cfg("sirek-vgg11", pretrained=False), entry).pretrained is False
    local = cfg("sirek-vgg11", pretrained_weights=str(tmp_path / "vgg11.pth"))
    assert P.resolve_pretrained(local, entry).pretrained is True
    assert server.requests == []
    plain = cfg("qin-mlp")
    assert P.resolve_pretrained(plain, registry.get("qin-mlp")).pretrained is None  # not applicable
    with pytest.raises(ConfigError, match="no ImageNet backbone"):
        P.resolve_pretrained(cfg("qin-mlp", pretrained=True), registry.get("qin-mlp"))


def test_pretrained_field_reads_recipe_strings():
    assert cfg("qin-resnet18", pretrained="false").pretrained is False
    assert cfg("qin-resnet18", pretrained="auto").pretrained is None
    assert cfg("qin-resnet18", pretrained="true").pretrained is True
    with pytest.raises(ConfigError):
        cfg("qin-resnet18", pretrained="maybe")


@pytest.mark.slow
def test_default_run_starts_from_the_downloaded_imagenet_weights(server, monkeypatch):
    torch.manual_seed(0)
    imagenet = backbones.ResNet18(num_classes=1000)
    state = {k: v.half() if v.is_floating_point() else v for k, v in imagenet.state_dict().items()}  # 22 MB
    publish(server, monkeypatch, pth_bytes(state))
    entry = registry.get("qin-resnet18")
    out = P.resolve_pretrained(cfg("qin-resnet18"), entry)
    assert out.pretrained is True and out.pretrained_weights.endswith(".pth")
    model = entry.build(10)
    backbones.load_pretrained(model, out.pretrained_weights)
    got = model.backbone.state_dict()
    assert torch.equal(got["conv1.weight"], state["conv1.weight"].float())
    assert got["fc.weight"].shape == (10, 512)  # the model keeps its own head


def test_cli_no_pretrained_flags(monkeypatch):
    from typer.testing import CliRunner

    from genrelab.cli import app
    from genrelab.experiments import runner

    seen = []
    monkeypatch.setattr(runner, "run_recipe", lambda rec, **kw: seen.extend(r.config.pretrained for r in rec.runs)
                        or runner.RecipeResult(rec.name, kw.get("out") or "x"))
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "sirek.yaml"
    res = CliRunner().invoke(app, ["run", str(recipe), "--no-pretrained", "-q"])
    assert res.exit_code == 0, res.output
    assert seen and set(seen) == {False}
    assert "--no-pretrained" in CliRunner().invoke(app, ["train", "--help"]).output
