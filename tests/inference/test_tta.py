"""Test-time augmentation views: the symmetries of the square, mapped back exactly."""

import numpy as np
import pytest
import torch

from wsiseg.inference import PredictSettings
from wsiseg.inference.tta import reduce_members, views


def as_arrays(tensors):
    return [t.numpy() for t in tensors]


def test_the_views_are_the_flips_and_the_eight_symmetries_of_the_square():
    a = torch.arange(12.0).reshape(1, 1, 3, 4)[..., :3]  # 3 x 3, no symmetry of its own
    n = a[0, 0].numpy()
    flips = as_arrays(v.apply(a)[0, 0] for v in views("flips"))
    expected = [n, np.fliplr(n), np.flipud(n), np.flipud(np.fliplr(n))]
    assert len(flips) == 4 and all(any(np.array_equal(f, e) for f in flips) for e in expected)
    d4 = as_arrays(v.apply(a)[0, 0] for v in views("d4"))
    expected = [np.rot90(m, k) for m in (n, np.fliplr(n)) for k in range(4)]
    assert len({f.tobytes() for f in d4}) == 8
    assert all(any(np.array_equal(f, e) for f in d4) for e in expected)
    assert views("none") == views("d4")[:1] and views("flips")[0] == views("d4")[0]  # the identity first


@pytest.mark.parametrize("tta", ["none", "flips", "d4"])
def test_invert_undoes_apply_on_non_square_batches_too(tta):
    x = torch.rand(2, 3, 5, 5)
    for view in views(tta):
        assert torch.equal(view.invert(view.apply(x)), x)


def test_unknown_choices_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"tta must be one of \['none', 'flips', 'd4'\], got 'd8'"):
        views("d8")
    with pytest.raises(ValueError, match=r"reduction must be one of \['mean', 'median', 'max'\]"):
        reduce_members(torch.zeros(2, 1), "min")
    with pytest.raises(ValueError, match="PredictSettings.tta must be one of"):
        PredictSettings(model_mpp=1.0, tile=32, tta="d8")


def test_reductions_over_members():
    stack = torch.tensor([[0.1, 0.9], [0.5, 0.2], [0.3, 0.4]])  # 3 members, 2 pixels
    assert torch.allclose(reduce_members(stack, "mean"), torch.tensor([0.3, 0.5]))
    assert torch.equal(reduce_members(stack, "median"), torch.tensor([0.3, 0.4]))
    assert torch.equal(reduce_members(stack, "max"), torch.tensor([0.5, 0.9]))
