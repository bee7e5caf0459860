
import numpy as np
import pytest
import torch

from genrelab.training.optim import CyclicLR, OptimConfig, build_optimizer, build_scheduler, smith_clr
from genrelab.types import ConfigError


def smith_reference(it, base, top, step, mode):
    # Smith (2017), section 3.1, written out independently of the implementation
    cycle = np.floor(1 + it / (2 * step))
    x = np.abs(it / step - 2 * cycle + 1)
    amp = (top - base) * np.maximum(0, 1 - x)
    if mode == "triangular2":
        amp = amp / (2 ** (cycle - 1))
    return base + amp


@pytest.mark.parametrize("mode", ["triangular", "triangular2"])
def test_cyclic_lr_matches_smith_formula_at_every_step(mode):
    steps_per_epoch, step_epochs = 7, 8  # Liu et al.: half cycle of 8 epochs, 5e-4 .. 1e-3
    cfg = OptimConfig(optimizer="adam", lr=5e-4, scheduler=mode, base_lr=5e-4, max_lr=1e-3, step_size_epochs=step_epochs)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch=steps_per_epoch, epochs=60)
    assert isinstance(sched, CyclicLR)
    step = steps_per_epoch * step_epochs
    seen = []
    for it in range(60 * steps_per_epoch):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    ref = smith_reference(np.arange(len(seen)), 5e-4, 1e-3, step, mode)
    np.testing.assert_allclose(seen, ref, rtol=0, atol=1e-15)
    assert seen[0] == pytest.approx(5e-4)
    assert seen[step] == pytest.approx(1e-3)  # peak after one half cycle
    assert seen[2 * step] == pytest.approx(5e-4)
    if mode == "triangular":
        assert seen[3 * step] == pytest.approx(1e-3)
    else:
        assert seen[3 * step] == pytest.approx(7.5e-4)  # amplitude halved in the second cycle
        assert seen[5 * step] == pytest.approx(6.25e-4)


def test_cyclic_lr_agrees_with_torch_cycliclr():
    p = torch.nn.Parameter(torch.zeros(1))
    for mode in ("triangular", "triangular2"):
        opt = torch.optim.SGD([p], lr=0.1)
        ref = torch.optim.lr_scheduler.CyclicLR(opt, 0.1, 1.0, step_size_up=5, mode=mode, cycle_momentum=False)
        got = [smith_clr(i, 0.1, 1.0, 5, mode) for i in range(40)]
        want = []
        for _ in range(40):
            want.append(opt.param_groups[0]["lr"])
            opt.step()
            ref.step()
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_cyclic_state_round_trip():
    p = torch.nn.Parameter(torch.zeros(1))
    cfg = OptimConfig(optimizer="sgd", lr=0.01, scheduler="triangular2", max_lr=0.1, step_size_epochs=2)
    opt = build_optimizer([p], cfg)
    s1 = build_scheduler(opt, cfg, steps_per_epoch=3, epochs=10)
    for _ in range(10):
        opt.step()
        s1.step()
    state = s1.state_dict()
    opt2 = build_optimizer([p], cfg)
    s2 = build_scheduler(opt2, cfg, steps_per_epoch=3, epochs=10)
    s2.load_state_dict(state)
    for _ in range(5):
        opt.step(); s1.step(); opt2.step(); s2.step()
        assert s1.get_last_lr() == s2.get_last_lr()


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                      ("rmsprop", torch.optim.RMSprop), ("sgd", torch.optim.SGD),
                                      ("adadelta", torch.optim.Adadelta), ("Adam", torch.optim.Adam)])
def test_optimizer_factory(name, cls):
    p = torch.nn.Parameter(torch.ones(3))
    opt = build_optimizer([p], OptimConfig(optimizer=name, lr=0.05, weight_decay=1e-4))
    assert isinstance(opt, cls)
    g = opt.param_groups[0]
    assert g["lr"] == 0.05 and g["weight_decay"] == 1e-4
    if name == "sgd":
        assert g["momentum"] == 0.9
    (p ** 2).sum().backward()
    before = p.detach().clone()
    opt.step()
    assert not torch.equal(before, p.detach())


def test_cosine_and_step_schedules():
    p = torch.nn.Parameter(torch.zeros(1))
    cfg = OptimConfig(optimizer="sgd", lr=1.0, scheduler="cosine", min_lr=0.0)
    opt = build_optimizer([p], cfg)
    s = build_scheduler(opt, cfg, steps_per_epoch=4, epochs=5)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"]); opt.step(); s.step()
    assert lrs[0] == 1.0 and lrs[10] == pytest.approx(0.5) and opt.param_groups[0]["lr"] == pytest.approx(0.0)
    cfg = OptimConfig(optimizer="sgd", lr=1.0, scheduler="step", step_epochs=2, gamma=0.5)
    opt = build_optimizer([p], cfg)
    s = build_scheduler(opt, cfg, steps_per_epoch=3, epochs=10)
    lrs = []
    for _ in range(13):
        lrs.append(opt.param_groups[0]["lr"]); opt.step(); s.step()
    assert lrs[5] == 1.0 and lrs[6] == 0.5 and lrs[12] == 0.25
    assert build_scheduler(opt, OptimConfig(), steps_per_epoch=3, epochs=3) is None


@pytest.mark.parametrize("kwargs,msg", [
    ({"optimizer": "adagrad"}, "unknown optimizer"),
    ({"scheduler": "onecycle"}, "unknown scheduler"),
    ({"lr": 0}, "learning rate"),
    ({"scheduler": "triangular", "base_lr": 1e-3, "max_lr": 1e-4}, "base_lr <= max_lr"),
    ({"weight_decay": -1}, "weight_decay"),
])
def test_optim_config_errors(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        OptimConfig(**kwargs)


@pytest.mark.parametrize("name, expected", [
    ("rmsprop", {"alpha": 0.9, "eps": 1e-7, "momentum": 0.0}),  # tf.keras RMSprop(rho=0.9, epsilon=1e-7)
    ("adam", {"eps": 1e-7, "betas": (0.9, 0.999)}),              # tf.keras Adam(epsilon=1e-7)
    ("adadelta", {"rho": 0.95, "eps": 1e-7}),                    # tf.keras Adadelta(rho=0.95, epsilon=1e-7)
])
def test_keras_defaults_set_keras_constants(name, expected):
    p = torch.nn.Parameter(torch.zeros(1))
    keras = build_optimizer([p], OptimConfig(optimizer=name, lr=1e-3, defaults="keras")).param_groups[0]
    plain = build_optimizer([p], OptimConfig(optimizer=name, lr=1e-3)).param_groups[0]
    for k, v in expected.items():
        assert keras[k] == v
    assert keras["lr"] == plain["lr"] == 1e-3
    assert any(keras[k] != plain[k] for k in expected)  # torch's own defaults differ


def test_keras_defaults_yield_to_extra_and_reject_unknown_sets():
    p = torch.nn.Parameter(torch.zeros(1))
    g = build_optimizer([p], OptimConfig(optimizer="rmsprop", defaults="keras", extra={"alpha": 0.5})).param_groups[0]
    assert g["alpha"] == 0.5 and g["eps"] == 1e-7
    with pytest.raises(ConfigError, match="defaults"):
        OptimConfig(defaults="caffe")
