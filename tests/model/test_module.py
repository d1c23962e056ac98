from __future__ import annotations

import functools

import torch

from .synthetic import DiscDataset, make_module


def test_normalisation_inside_module() -> None:
    module = make_module(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3)).eval()
    x = torch.rand(2, 3, 32, 32)
    mean = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)
    std = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(module(x), module.net((x - mean) / std))


def test_predict_step_returns_probabilities() -> None:
    module = make_module().eval()
    batch = next(iter(torch.utils.data.DataLoader(DiscDataset(3), batch_size=3)))
    with torch.no_grad():
        from_dict = module.predict_step(batch, 0)
        from_tensor = module.predict_step(batch["image"])
    assert from_dict.shape == (3, 1, 32, 32)
    assert from_dict.dtype == torch.float32
    assert from_dict.min() >= 0.0 and from_dict.max() <= 1.0
    torch.testing.assert_close(from_dict, from_tensor)


def test_channels_last_gives_same_output() -> None:
    x = torch.rand(2, 3, 32, 32)
    plain, channels_last = make_module().eval(), make_module(channels_last=True).eval()
    assert plain.net.head.weight.is_contiguous()
    assert channels_last.net.head.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(channels_last(x), plain(x), rtol=1e-4, atol=1e-5)


def test_configure_optimizers_without_scheduler() -> None:
    config = make_module().configure_optimizers()
    assert set(config) == {"optimizer"}
    assert config["optimizer"].param_groups[0]["lr"] == 1e-2


def test_configure_optimizers_with_a_scheduler_stepped_every_epoch() -> None:
    scheduler = functools.partial(torch.optim.lr_scheduler.MultiStepLR, milestones=[2], gamma=0.1)
    config = make_module(scheduler=scheduler).configure_optimizers()
    assert set(config) == {"optimizer", "lr_scheduler"}
    assert config["lr_scheduler"]["interval"] == "epoch" and "monitor" not in config["lr_scheduler"]
    assert config["lr_scheduler"]["scheduler"].optimizer is config["optimizer"]


def test_examples_come_from_a_full_batch_preferably_with_tumour():
    module = make_module()
    empty, tumour = torch.zeros(8, 1, 4, 4), torch.ones(8, 1, 4, 4)
    assert module._wants_examples(empty)  # nothing kept yet
    module._last_val = {"image": torch.zeros(8, 3, 4, 4), "mask": empty, "prob": empty}
    assert module._wants_examples(tumour)  # same size, shows tumour
    assert not module._wants_examples(torch.ones(1, 1, 4, 4))  # a ragged last batch never replaces a full one
    module._last_val["mask"] = tumour
    assert not module._wants_examples(tumour)  # keep the first good batch
