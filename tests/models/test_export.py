"""ONNX export: dynamic batch, metadata, verification, both exporters, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zoo_cases import one_torch_thread  # noqa: F401

from genrelab.export import ExportError, export_onnx, onnx_session, run_onnx
from genrelab.models import registry


def test_dynamic_batch_and_metadata(tmp_path):
    torch.manual_seed(0)
    model = registry.build("qin-mlp", 10)
    model.train()
    path = export_onnx(model, (57,), tmp_path / "m.onnx", metadata={"labels": '["a","b"]', "model": "qin-mlp"})
    assert model.training, "export restores the training mode"
    sess = onnx_session(path)
    assert sess.get_inputs()[0].name == "input" and sess.get_outputs()[0].name == "logits"
    assert sess.get_modelmeta().custom_metadata_map["model"] == "qin-mlp"
    model.eval()
    for batch in (1, 5):
        x = torch.randn(batch, 57)
        with torch.no_grad():
            np.testing.assert_allclose(run_onnx(sess, x.numpy()), model(x).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_dynamo_exporter(tmp_path):
    model = registry.build("saintfelix-cnn", 10)
    path = export_onnx(model, (125, 13), tmp_path / "d.onnx", exporter="dynamo")
    assert path.exists() and path.stat().st_size > 0


def test_refusals(tmp_path):
    with pytest.raises(ExportError, match="only torch models"):
        export_onnx(registry.build("logreg", 10), (57,), tmp_path / "x.onnx")
    with pytest.raises(ExportError, match="exporter must be"):
        export_onnx(registry.build("qin-mlp", 10), (57,), tmp_path / "x.onnx", exporter="tf")
    assert not (tmp_path / "x.onnx").exists()


def test_mismatch_is_reported(tmp_path, monkeypatch):
    import genrelab.export as ex

    monkeypatch.setattr(ex, "compare_onnx", lambda *a, **k: 0.5)
    with pytest.raises(ExportError, match="differ"):
        export_onnx(registry.build("qin-mlp", 10), (57,), tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists(), "no file is left behind when verification fails"


def test_gru_over_batch_variant_is_batch_dependent_but_exports(tmp_path):
    torch.manual_seed(0)
    fixed = registry.build("sirek-cnn4-gru", 10, image_size=(128, 192)).eval()
    study = registry.build("sirek-cnn4-gru", 10, image_size=(128, 192), gru_over_batch=True).eval()
    x = torch.randn(3, 3, 128, 192)
    with torch.no_grad():
        torch.testing.assert_close(fixed(x)[2:], fixed(x[2:]))
        assert not torch.allclose(study(x)[2:], study(x[2:]), atol=1e-6)  # depends on the other examples
    export_onnx(study, (3, 128, 192), tmp_path / "study.onnx")
