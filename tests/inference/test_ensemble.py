"""TilePredictor: members on the same batch, views mapped back exactly, reductions as stated."""

import numpy as np
import pytest
import torch
from torch import nn

from wsiseg.inference import TilePredictor
from wsiseg.model import SegmentationModule, UNet

T = 8


class Pointwise(nn.Module):
    """Logit := 6 (red - 0.5): each output pixel depends on its own input pixel only (equivariant)."""

    def forward(self, image):
        return 6 * (image[:, :1] - 0.5)


class ColumnRamp(nn.Module):
    """Logit := the column index / 4, whatever the image: an output with no symmetry of the square."""

    def forward(self, image):
        b, _, h, w = image.shape
        return (torch.arange(w, dtype=torch.float32) / 4).expand(b, 1, h, w)


class Constant(nn.Module):
    def __init__(self, logit):
        super().__init__()
        self.logit = logit

    def forward(self, image):
        return torch.full_like(image[:, :1], self.logit)


def batch(n=3):
    return (torch.rand(n, 3, T, T, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)


@pytest.mark.parametrize("tta", ["flips", "d4"])
def test_views_of_an_equivariant_model_map_back_onto_the_same_pixels(tta):
    images = batch()
    plain = TilePredictor([Pointwise()]).predict_step({"image": images})
    augmented = TilePredictor([Pointwise()], tta=tta).predict_step({"image": images})
    assert torch.allclose(augmented, plain, atol=1e-6)  # a wrong inverse would move the random pixels
    assert not torch.allclose(plain, plain.flip(-1))  # the input has no symmetry that could hide one


def test_views_of_a_position_dependent_model_average_the_ramps_by_hand():
    images = batch(1)
    i, j = np.mgrid[0:T, 0:T].astype(np.float32)
    s = lambda v: 1 / (1 + np.exp(-v / 4))  # noqa: E731
    flips = TilePredictor([ColumnRamp()], tta="flips").predict_step({"image": images})[0, 0].numpy()
    # identity and up-down flip see the ramp j; left-right and both flips map it back to T - 1 - j
    assert np.allclose(flips, (2 * s(j) + 2 * s(T - 1 - j)) / 4, atol=1e-6)
    d4 = TilePredictor([ColumnRamp()], tta="d4").predict_step({"image": images})[0, 0].numpy()
    # the 8 symmetries carry the column ramp to the four ramps j, i, T - 1 - j, T - 1 - i, twice each
    assert np.allclose(d4, (s(j) + s(i) + s(T - 1 - j) + s(T - 1 - i)) / 4, atol=1e-6)


@pytest.mark.parametrize(("reduction", "expected"), [("mean", (0.2 + 0.5 + 0.9) / 3), ("median", 0.5), ("max", 0.9)])
def test_members_are_combined_by_the_reduction(reduction, expected):
    logits = [float(np.log(p / (1 - p))) for p in (0.2, 0.9, 0.5)]
    out = TilePredictor([Constant(v) for v in logits], reduction=reduction).predict_step(batch())
    assert out.shape == (3, 1, T, T) and torch.allclose(out, torch.tensor(expected), atol=1e-6)


def test_one_member_without_views_is_exactly_the_members_own_prediction():
    torch.manual_seed(0)
    member = SegmentationModule(UNet(base_width=4, depth=2)).eval()
    images = batch()
    with torch.inference_mode():
        assert torch.equal(TilePredictor([member]).predict_step({"image": images}), member.predict_step(images))
        d4 = TilePredictor([member], tta="d4").predict_step({"image": images})
    assert d4.shape == (3, 1, T, T) and not torch.allclose(d4, member.predict_step(images))  # a CNN is not equivariant


def test_an_empty_ensemble_or_an_unknown_reduction_fails_at_once():
    with pytest.raises(ValueError, match="at least one member"):
        TilePredictor([])
    with pytest.raises(ValueError, match="reduction must be one of"):
        TilePredictor([Pointwise()], reduction="sum")
