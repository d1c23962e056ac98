from __future__ import annotations

import pytest
import torch
from torch import nn

from wsiseg.model import UNet

# The paper's network: U-Net, base 64, depth 4, batch norm, transposed-conv up-sampling, 1 output channel.
# By hand, with DoubleConv(a, b) = 9ab + 9b^2 + 4b (bias-free convs, BN weight+bias) and
# ConvTranspose(c -> c/2, 2x2) = 2c^2 + c/2:
#   encoder + bottleneck 38,848 + 221,696 + 885,760 + 3,540,992 + 14,159,872 = 18,847,168
#   up-convolutions      2,097,664 + 524,544 + 131,200 + 32,832            =  2,786,240
#   decoder convs        7,079,936 + 1,770,496 + 442,880 + 110,848         =  9,404,160
#   1x1 head             64 + 1                                            =         65
# total 31,037,633, the same as the widely used milesial/Pytorch-UNet UNet(3, 1, bilinear=False).
PAPER_PARAMS = 31_037_633


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_output_shape(depth: int) -> None:
    net = UNet(base_width=4, depth=depth, num_classes=2)
    out = net(torch.rand(2, 3, 32, 48))
    assert out.shape == (2, 2, 32, 48)


def test_paper_size_parameter_count() -> None:
    net = UNet()
    assert 31_000_000 < net.num_parameters < 31_100_000
    assert net.num_parameters == PAPER_PARAMS


def test_switches_remove_layers() -> None:
    no_bn = UNet(base_width=4, depth=2, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in no_bn.modules())
    no_dropout = UNet(base_width=4, depth=2, dropout=0.0)
    assert not any(isinstance(m, nn.Dropout2d) for m in no_dropout.modules())


def test_dropout_in_deepest_encoder_stage_and_bottleneck() -> None:
    net = UNet(base_width=4, depth=3, dropout=0.3)
    assert isinstance(net.encoder[-1][-1], nn.Dropout2d)
    assert isinstance(net.bottleneck[-1], nn.Dropout2d)
    assert sum(isinstance(m, nn.Dropout2d) for m in net.modules()) == 2


def test_bad_input_size_raises() -> None:
    net = UNet(base_width=4, depth=3)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth = 8"):
        net(torch.rand(1, 3, 36, 32))


def test_tiny_variant_is_small() -> None:
    assert UNet(base_width=8, depth=3).num_parameters < 200_000


def test_bilinear_variant_shape() -> None:
    net = UNet(base_width=4, depth=2, bilinear=True)
    assert net(torch.rand(1, 3, 16, 16)).shape == (1, 1, 16, 16)


def test_channels_last_matches_contiguous() -> None:
    torch.manual_seed(0)
    net = UNet(base_width=4, depth=2).eval()
    x = torch.rand(2, 3, 32, 32)
    expected = net(x)
    net_cl = net.to(memory_format=torch.channels_last)
    out = net_cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
