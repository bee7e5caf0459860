"""Every torch model of the zoo: shapes, n_classes, contracts, checkpoints, training step, ONNX, sizes."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
import torch
from zoo_cases import (HEAVY, PARAM_COUNTS, VARIANTS, case_name, light_config, one_torch_thread,  # noqa: F401
                       torch_model_names)

from genrelab import checkpoint
from genrelab.export import export_onnx, run_onnx
from genrelab.models import registry, summary
from genrelab.models.registry import InputContract

NAMES = torch_model_names()
CASES = NAMES + list(VARIANTS)  # every model with default arguments, and the study variants


def _build(name: str, n_classes: int = 10, seed: int = 0, **extra):
    args, shape = light_config(name)
    torch.manual_seed(seed)
    return registry.build(case_name(name), n_classes, **{**args, **extra}), {**args, **extra}, shape


def _batch(shape, n: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))


def _settle(model: torch.nn.Module, x: torch.Tensor) -> None:
    """A few training-mode passes so that batch-norm running statistics are not the defaults."""
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(x)
    model.eval()


def test_registry_covers_the_issue():
    expected = set(PARAM_COUNTS)
    assert expected <= set(NAMES), f"missing models: {sorted(expected - set(NAMES))}"
    assert set(NAMES) == expected, "a new torch model needs its parameter count in zoo_cases.PARAM_COUNTS"


def test_family_map_matches_registrations():
    # registry.get imports only the family FAMILY_OF_MODEL names, so the map must say where each model lives
    builtin = {e.name: e.cls.__module__.rsplit(".", 1)[-1] for e in registry.list_models()
               if e.cls.__module__.startswith("genrelab.models.")}
    assert builtin == registry.FAMILY_OF_MODEL


def test_get_imports_only_the_family_it_needs():
    import subprocess
    import sys

    code = ("import sys; import genrelab.models; print('torch' in sys.modules); registry = genrelab.models.registry; "
            "registry.get('qin-mlp'); print(sorted(m for m in sys.modules if m.startswith('genrelab.models.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "False"  # importing the zoo imports no family (and so no torch)
    loaded = set(eval(out[1]))  # qin (and the backbones it builds on), not the other families
    assert "genrelab.models.qin" in loaded and not loaded & {f"genrelab.models.{f}" for f in ("liu", "sirek", "musicnn")}


@pytest.mark.parametrize("name", NAMES)
def test_documented_and_contracted(name):
    entry = registry.get(name)
    doc = inspect.getdoc(entry.cls) or ""
    assert len(doc) > 80, f"{name}: the docstring must cite its source and state shapes"
    assert "input" in doc.lower() and "n_classes" in doc, f"{name}: docstring must state input and output shapes"
    module_doc = inspect.getdoc(inspect.getmodule(entry.cls)) or ""
    assert any(w in (doc + module_doc) for w in ("et al", "&", "Sears", "Saint-Félix")), f"{name}: cite the study"
    contract = entry.contract()
    assert isinstance(contract, InputContract)
    # the contract round-trips through JSON (checkpoints store it)
    assert InputContract.from_dict(contract.to_dict()) == contract


@pytest.mark.parametrize("name", NAMES)
def test_contract_matches_feature_shape(name):
    """The declared input shape is what the feature config produces for one (framed) example."""
    spec = registry.get(name).contract().spec
    contract = registry.get(name).contract()
    sr = spec.sample_rate
    if spec.segment_samples:
        n = spec.segment_samples
    elif spec.segment_seconds:
        n = int(round(spec.segment_seconds * sr))
    else:
        n = int(round((spec.clip_seconds or 30.0) * sr))
    shape = tuple(spec.feature.output_shape(n))
    if spec.group_segments:
        shape = (spec.n_segments, *shape)
    assert shape == tuple(contract.input_shape)


@pytest.mark.parametrize("n_classes", [8, 10, 16])
@pytest.mark.parametrize("name", CASES)
def test_forward_shape_and_n_classes(name, n_classes):
    model, _, shape = _build(name, n_classes)
    model.eval()
    with torch.no_grad():
        y = model(_batch(shape))
    assert y.shape == (2, n_classes)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", CASES)
def test_examples_are_independent_in_eval_mode(name):
    model, _, shape = _build(name)
    x = _batch(shape, 3)
    _settle(model, x)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[1:2], model(x[1:2]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in NAMES])
def test_forward_at_contract_shape(name):
    """Default arguments, the contract's exact input shape."""
    entry = registry.get(name)
    torch.manual_seed(0)
    model = entry.build(10).eval()
    x = _batch(entry.contract().input_shape, 1)
    with torch.no_grad():
        assert model(x).shape == (1, 10)


@pytest.mark.parametrize("name", CASES)
def test_save_load_identical_outputs(name, tmp_path):
    model, args, shape = _build(name, n_classes=8)
    x = _batch(shape, 2)
    _settle(model, x)
    labels = [f"genre{i}" for i in range(8)]
    checkpoint.save(tmp_path / "ckpt", model, model_name=case_name(name), model_args=args, labels=labels)
    ck = checkpoint.load(tmp_path / "ckpt")
    assert ck.model_name == case_name(name) and ck.labels == labels
    assert ck.contract == registry.get(case_name(name)).contract(**args)
    with torch.no_grad():
        assert torch.equal(model(x), ck.model(x))


@pytest.mark.parametrize("name", CASES)
def test_one_optimiser_step_lowers_the_loss(name):
    model, _, shape = _build(name, n_classes=4)
    x = _batch(shape, 4, seed=3)
    y = torch.arange(4) % 4
    model.train()
    state = copy.deepcopy(model.state_dict())

    def loss() -> torch.Tensor:
        torch.manual_seed(123)  # the same dropout / stochastic-depth masks every time
        return torch.nn.functional.cross_entropy(model(x), y)

    for lr in (1e-2, 1e-3, 1e-4):
        model.load_state_dict(state)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        opt.zero_grad()
        before = loss()
        before.backward()
        opt.step()
        with torch.no_grad():
            after = loss()
        if after.item() < before.item():
            return
    pytest.fail(f"{name}: one SGD step did not lower the loss ({before.item():.5f} -> {after.item():.5f})")


def test_parameter_counts():
    counts = {name: summary.parameter_count(name, 10) for name in PARAM_COUNTS}
    assert counts == PARAM_COUNTS


@pytest.mark.parametrize("name", ["qin-mlp", "saintfelix-cnn", "liu-crnn", "sirek-cnn4-gru"])
def test_parameter_counts_follow_n_classes(name):
    # only the output layer depends on the number of classes
    c8, c16 = summary.parameter_count(name, 8), summary.parameter_count(name, 16)
    model = registry.build(name, 8)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert c16 - c8 == 8 * (last.in_features + 1)


@pytest.mark.parametrize("name", CASES)
def test_onnx_export_matches_pytorch(name, tmp_path):
    model, _, shape = _build(name)
    x = _batch(shape, 2)
    _settle(model, x)
    path = export_onnx(model, shape, tmp_path / f"{name.replace(':', '_')}.onnx")  # verifies a batch of 3 itself
    one = _batch(shape, 1, seed=5)
    with torch.no_grad():
        ref = model(one).numpy()
    np.testing.assert_allclose(run_onnx(path, one.numpy()), ref, rtol=1e-3, atol=1e-4)


def test_docs_table_is_current():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "models.md"
    text = docs.read_text(encoding="utf-8")
    table = summary.markdown_table(10)
    missing = [line for line in table.splitlines() if line.startswith("| `") and
               line.split("`")[1] in PARAM_COUNTS and line not in text]
    assert not missing, "docs/models.md is stale; run: python scripts/model_table.py --write\n" + "\n".join(missing)


@pytest.mark.parametrize("name", [
    "saintfelix-cnn", "bian-cnn1d", "feng-bigru", "liu-crnn",
    pytest.param("sirek-cnn4", marks=pytest.mark.slow),
    pytest.param("qin-lstm", marks=pytest.mark.slow),
])
def test_contract_features_feed_the_model(name):
    """Real feature code on a 30 s signal, framed by the contract, goes straight into the model."""
    contract = registry.get(name).contract()
    rng = np.random.default_rng(0)
    t = np.arange(30 * contract.spec.sample_rate) / contract.spec.sample_rate
    y = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    examples = contract.spec.examples(y)
    assert examples.shape[1:] == tuple(contract.input_shape)
    model = registry.build(name, 10).eval()
    with torch.no_grad():
        out = model(torch.from_numpy(examples[:2]))
    assert out.shape == (min(2, len(examples)), 10) and torch.isfinite(out).all()
