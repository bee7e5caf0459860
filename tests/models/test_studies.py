"""The study models as the studies state them (issue 12): the text is the default, the cited code a named variant."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genrelab.models import registry
from genrelab.models.layers import KerasMaxPool2d, count_parameters


def _types(model: nn.Module) -> list[type]:
    return [type(m) for m in model.modules()]


@pytest.mark.parametrize("name, study", [("liu-cnn", 300_000), ("liu-crnn", 1_000_000)])
def test_liu_parameter_counts_within_20_percent_of_the_study(name, study):
    n = count_parameters(registry.build(name, 8))  # FMA-small: 8 genres
    assert abs(n - study) <= 0.2 * study, f"{name}: {n:,} parameters, the study states ~{study:,}"


def test_liu_crnn_has_one_batchnorm_at_the_end_of_the_cnn():
    model = registry.build("liu-crnn", 8)
    bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 1 and model.features[-1] is bns[0]
    every = registry.build("liu-crnn", 8, batch_norm="every")
    assert sum(isinstance(m, nn.BatchNorm2d) for m in every.features) == 3


def test_liu_images_are_made_at_16_khz():
    assert registry.get("liu-cnn").contract().spec.sample_rate == 16000


def test_sears_pooling_is_2x2_stride_2_with_saintfelix_as_a_variant():
    study = [m for m in registry.build("saintfelix-cnn", 10).modules() if isinstance(m, KerasMaxPool2d)]
    code = [m for m in registry.build("saintfelix-cnn", 10, pool="saintfelix").modules() if isinstance(m, KerasMaxPool2d)]
    assert [(p.pool_size, p.strides) for p in study] == [((2, 2), (2, 2))] * 3
    assert [p.pool_size for p in code] == [(3, 3), (3, 3), (2, 2)]


def test_sears_cnn038_puts_dropout_40_30_20_in_the_conv_blocks():
    model = registry.build("sears-cnn038", 10)
    assert [m.p for m in model.features if isinstance(m, nn.Dropout)] == [0.4, 0.3, 0.2]
    assert not any(isinstance(m, nn.Dropout) for m in model.classifier)


@pytest.mark.parametrize("name, args", [
    ("saintfelix-mlp", {"hidden": [512, 256, 128], "activation": "sigmoid"}),  # mlp_12.1
    ("saintfelix-cnn", {"activation": "sigmoid", "blocks": 2}),
])
def test_sigmoid_ladders(name, args):
    model = registry.build(name, 10, **args)
    assert nn.Sigmoid in _types(model) and nn.ReLU not in _types(model)
    if "hidden" in args:
        widths = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
        assert widths == [512, 256, 128, 10]


def test_sears_cnn_block_ladder():
    convs = [sum(isinstance(m, nn.Conv2d) for m in registry.build("saintfelix-cnn", 10, blocks=b).modules())
             for b in (1, 2, 3)]
    assert convs == [1, 2, 3]
    with pytest.raises(Exception, match="blocks"):
        registry.build("saintfelix-cnn", 10, blocks=4)
    with pytest.raises(Exception, match="activation"):
        registry.build("saintfelix-mlp", 10, activation="tanh")


def test_qin_mlp_ends_in_logsigmoid_by_default():
    study, improved = registry.build("qin-mlp", 10), registry.build("qin-mlp", 10, logsigmoid_output=False)
    x = torch.randn(4, 57)
    with torch.no_grad():
        assert (study(x) <= 0).all()
        assert isinstance(study.out_act, nn.LogSigmoid) and isinstance(improved.out_act, nn.Identity)


def test_qin_lstm_defaults_to_the_studys_best_64_nodes():
    assert registry.build("qin-lstm", 10).lstm.hidden_size == 64


def test_image_models_that_studies_fine_tune_declare_their_imagenet_arch():
    from genrelab.training.pretrained import pretrained_arch

    archs = {e.name: pretrained_arch(e) for e in registry.list_models() if pretrained_arch(e)}
    assert archs == {"qin-resnet18": "resnet18", "sirek-efficientnet-b0": "efficientnet_b0",
                     "sirek-efficientnet-b0-gru": "efficientnet_b0", "sirek-vgg11": "vgg11"}
