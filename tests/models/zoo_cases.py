"""Shared test configuration for the model zoo: which models, at what size, and their parameter counts."""

from __future__ import annotations

import pytest
import torch

from genrelab.models import registry

#: Families whose own helpers test them (musicnn has its own tests).
EXCLUDED_FAMILIES = {"musicnn"}

#: The big image models are exercised at a smaller spatial size (they are fully convolutional up to a
#: global pooling, or take ``image_size``); the full contract shape is checked once, marked slow.
LIGHT: dict[str, tuple[dict, tuple[int, ...]]] = {
    "qin-resnet18": ({}, (3, 64, 96)),
    "sirek-efficientnet-b0": ({}, (3, 64, 96)),
    "sirek-efficientnet-b0-gru": ({}, (3, 64, 96)),
    "sirek-vgg11": ({"head": "linear"}, (3, 64, 96)),
    "sirek-cnn3": ({"image_size": (64, 96)}, (3, 64, 96)),
    "sirek-cnn4": ({"image_size": (128, 192)}, (3, 128, 192)),
    "sirek-cnn4-gru": ({"image_size": (128, 192)}, (3, 128, 192)),
}

#: Models whose full-size forward pass takes more than a second or two on a small CPU.
HEAVY = {"qin-resnet18", "sirek-efficientnet-b0", "sirek-efficientnet-b0-gru", "sirek-vgg11", "sirek-cnn3",
         "sirek-cnn4", "sirek-cnn4-gru"}

#: Parameter counts with 10 classes and default arguments (also in docs/models.md).
PARAM_COUNTS = {
    "qin-mlp": 13_322,
    "qin-lstm": 98_698,
    "qin-resnet18": 11_181_642,
    "saintfelix-mlp": 1_268_298,
    "sears-mlp27": 1_334_090,
    "saintfelix-cnn": 45_322,
    "sears-cnn038": 84_362,
    "saintfelix-lstm": 58_314,
    "bian-cnn1d": 1_456_906,
    "bian-cnn1d-svm": 1_456_906,
    "feng-bigru": 233_610,
    "liu-cnn": 299_562,
    "liu-crnn": 983_642,
    "liu-dcnn": 9_638_102,
    "liu-dcrnn": 305_142,
    "sirek-cnn3": 15_957_866,
    "sirek-cnn4": 1_310_218,
    "sirek-cnn4-gru": 885_002,
    "sirek-efficientnet-b0": 4_020_358,
    "sirek-efficientnet-b0-gru": 5_092_998,
    "sirek-vgg11": 128_807_306,
}


#: Study variants (model arguments, see docs/models.md) run through the same shape, checkpoint, training-step
#: and ONNX tests as the registry defaults: case id -> (registry name, arguments).
VARIANTS: dict[str, tuple[str, dict]] = {
    "saintfelix-mlp:sigmoid-512-256-128": ("saintfelix-mlp", {"hidden": [512, 256, 128], "activation": "sigmoid"}),
    "saintfelix-cnn:pool-saintfelix": ("saintfelix-cnn", {"pool": "saintfelix"}),
    "saintfelix-cnn:sigmoid-1-block": ("saintfelix-cnn", {"activation": "sigmoid", "blocks": 1}),
    "saintfelix-cnn:2-blocks": ("saintfelix-cnn", {"blocks": 2}),
    "sears-cnn038:pool-saintfelix": ("sears-cnn038", {"pool": "saintfelix"}),
    "liu-crnn:bn-every-gru64": ("liu-crnn", {"batch_norm": "every", "gru_units": 64}),
    "qin-mlp:improved": ("qin-mlp", {"logsigmoid_output": False}),
    "qin-lstm:128x2": ("qin-lstm", {"hidden_size": 128, "num_layers": 2}),
}


def case_name(case: str) -> str:
    """The registry name of a test case (a model name or a :data:`VARIANTS` id)."""
    return VARIANTS[case][0] if case in VARIANTS else case


def _shipped(entry) -> bool:
    """Models that genrelab itself ships (tests elsewhere register tiny fixture models of their own)."""
    return entry.cls.__module__.startswith("genrelab.models.")


def torch_model_names() -> list[str]:
    return [e.name for e in registry.list_models()
            if _shipped(e) and e.kind == "torch" and e.family not in EXCLUDED_FAMILIES]


def sklearn_model_names() -> list[str]:
    return [e.name for e in registry.list_models() if _shipped(e) and e.kind == "sklearn"]


def light_config(name: str) -> tuple[dict, tuple[int, ...]]:
    """(build arguments, input shape) used by the fast tests of ``name`` (a model name or a variant id)."""
    if name in VARIANTS:
        real, args = VARIANTS[name]
        return dict(args), tuple(registry.get(real).contract(**args).input_shape)
    if name in LIGHT:
        return LIGHT[name]
    return {}, tuple(registry.get(name).contract().input_shape)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run the zoo tests on one intra-op thread: these small batches gain little from more, and on a
    shared 2-core machine (CI, parallel jobs) oversubscribed threads make them many times slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
