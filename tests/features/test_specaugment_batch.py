"""SpecAugment on a batch: masks within bounds, vectorised, seeded, on the input's device."""

import numpy as np
import pytest
import torch

from genrelab.features.augment import Mixup, SpecAugment
from genrelab.types import ConfigError


def _runs(row: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
    return list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))


def test_masks_are_full_bands_and_spans_within_bounds():
    aug = SpecAugment(freq_masks=2, freq_width=5, time_masks=3, time_width=7, seed=0)
    m = aug.mask((200, 1, 32, 50)).expand(200, 1, 32, 50).numpy()[:, 0]
    for b in range(200):
        rows, cols = m[b].all(axis=1), m[b].all(axis=0)
        # every masked cell is in a fully masked frequency band or time span
        assert np.array_equal(m[b], rows[:, None] | cols[None, :])
        assert len(_runs(rows)) <= 2 and rows.sum() <= 2 * 5
        assert len(_runs(cols)) <= 3 and cols.sum() <= 3 * 7
    # widths are uniform over 0..width: one band per row, every width seen over 400 draws
    one = SpecAugment(freq_masks=1, freq_width=3, time_masks=0, seed=1).mask((400, 16, 10))
    widths = one[:, :, 0].sum(dim=1)
    assert set(widths.tolist()) == {0, 1, 2, 3}
    # a width larger than the axis is capped by it
    big = SpecAugment(freq_masks=1, freq_width=100, time_masks=0, seed=2).mask((300, 6, 4))
    assert big[:, :, 0].sum(dim=1).max() == 6


def test_input_untouched_numpy_and_torch_round_trip():
    x = np.random.default_rng(0).standard_normal((4, 1, 16, 30)).astype(np.float32)
    before = x.copy()
    out = SpecAugment(value=-9.0, seed=3)(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == x.shape
    assert np.array_equal(x, before) and (out == -9.0).any() and (out == x).any()
    t = torch.from_numpy(before.copy())
    tout = SpecAugment(value=-9.0, seed=3)(t)
    assert isinstance(tout, torch.Tensor) and tout.dtype == torch.float32
    assert torch.equal(t, torch.from_numpy(before))
    np.testing.assert_array_equal(tout.numpy(), out)  # same seed: same masks from numpy and torch
    ro = before.copy()
    ro.flags.writeable = False  # a read-only (memory-mapped) batch is fine
    assert np.array_equal(SpecAugment(value=-9.0, seed=3)(ro), out)


def test_seeded_reproducible_and_global_rng():
    x = torch.randn(8, 16, 40)
    a1, a2 = SpecAugment(seed=7), SpecAugment(seed=7)
    first, second = a1(x), a1(x)
    assert torch.equal(first, a2(x)) and torch.equal(second, a2(x))
    assert not torch.equal(first, second)  # the stream advances
    assert not torch.equal(first, SpecAugment(seed=8)(x))
    g = SpecAugment()  # seed None: torch's global generator (re-seeded per epoch by the trainer)
    torch.manual_seed(11)
    u = g(x)
    torch.manual_seed(11)
    assert torch.equal(u, g(x))


def test_fill_is_each_examples_mean():
    x = torch.randn(5, 2, 12, 20) + torch.arange(5.0).view(5, 1, 1, 1) * 10
    out = SpecAugment(freq_masks=2, freq_width=6, time_masks=2, time_width=10, seed=4)(x)
    changed = out != x
    assert changed.any()
    for b in range(5):
        means = out[b][changed[b]]
        torch.testing.assert_close(means, x[b].mean().expand_as(means))
        # masks are shared by the channels (leading axes) of one example
        assert torch.equal(changed[b, 0], changed[b, 1])


def test_time_major_axis():
    x = torch.randn(64, 50, 13)  # (batch, frames, bands)
    t_only = SpecAugment(freq_masks=0, time_masks=1, time_width=9, value=100.0, seed=0, time_axis=-2)(x) == 100
    f_only = SpecAugment(freq_masks=1, freq_width=4, time_masks=0, value=100.0, seed=0, time_axis=-2)(x) == 100
    assert t_only.any() and f_only.any()
    for b in range(64):
        frames, bands = t_only[b].all(dim=1), f_only[b].all(dim=0)
        assert torch.equal(t_only[b], frames[:, None].expand(50, 13)) and frames.sum() <= 9
        assert torch.equal(f_only[b], bands[None, :].expand(50, 13)) and bands.sum() <= 4


def test_bad_parameters_are_config_errors():
    for kw in ({"freq_width": -1}, {"time_masks": -2}, {"time_width": 2.5}, {"time_axis": 0}, {"freq_masks": "x"}):
        with pytest.raises(ConfigError):
            SpecAugment(**kw)
    with pytest.raises(ConfigError, match="batch"):
        SpecAugment()(torch.zeros(16, 20))
    with pytest.raises(ConfigError):
        Mixup(alpha=0)
    assert SpecAugment(freq_width="3").freq_width == 3  # recipe variables are strings


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_cuda_device():
    x = torch.randn(32, 1, 128, 128, device="cuda")
    out = SpecAugment(seed=0)(x)
    assert out.device == x.device and not torch.equal(out, x)
    assert torch.equal(out, SpecAugment(seed=0)(x))
    xm, ym = Mixup(0.2, seed=0)(x, torch.arange(32, device="cuda") % 4, n_classes=4)
    assert xm.device == x.device and ym.device == x.device and ym.shape == (32, 4)
