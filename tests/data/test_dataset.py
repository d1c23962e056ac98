"""PatchDataset: augmentations that repeat from run to run and differ between DataLoader workers."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from wsiseg.data import HSVJitter, build_augmentation
from wsiseg.data.dataset import PatchDataset


@pytest.fixture
def one_patch(tmp_path):
    """A cache of one textured 32 px patch (every augmentation of it is visible) and its half-tumour mask."""
    rng = np.random.default_rng(0)
    images, masks = tmp_path / "images.npy", tmp_path / "masks.npy"
    np.save(images, rng.integers(40, 220, (1, 32, 32, 3), dtype=np.uint8))
    mask = np.zeros((1, 32, 32), np.uint8)
    mask[0, :, :16] = 1
    np.save(masks, mask)
    return images, masks


def draws(paths, num_workers: int, torch_seed: int, n: int = 12) -> torch.Tensor:
    """The images of ``n`` augmented draws of the one patch, each run with a freshly built pipeline."""
    torch.manual_seed(torch_seed)
    transform = build_augmentation(flip=True, rotate90=True, hsv=HSVJitter(20, 30, 20, p=1.0))  # Compose(seed=None)
    dataset = PatchDataset(*paths, rows=np.zeros(n, np.int64), transform=transform)
    context = "fork" if num_workers else None
    loader = DataLoader(dataset, batch_size=1, num_workers=num_workers, multiprocessing_context=context)
    return torch.cat([batch["image"] for batch in loader])  # (n, 3, 32, 32), in item order


@pytest.mark.parametrize("num_workers", [0, 2])
def test_augmentations_repeat_with_the_torch_seed_and_change_with_it(one_patch, num_workers):
    first, again, other = (draws(one_patch, num_workers, seed) for seed in (7, 7, 8))
    assert torch.equal(first, again)  # a new Compose(seed=None) each time: only the reseeding makes this hold
    assert not torch.equal(first, other)
    assert len({tuple(x.flatten()[:64].tolist()) for x in first}) >= 6  # the draws are augmented, not all alike


def test_forked_workers_draw_different_augmentations(one_patch):
    images = draws(one_patch, 2, 7)
    # with batch_size=1, worker 0 serves items 0, 2, 4, ... and worker 1 items 1, 3, 5, ...: without the
    # reseeding both inherit one random state and item 2k equals item 2k + 1
    pairs_equal = [torch.equal(images[2 * k], images[2 * k + 1]) for k in range(len(images) // 2)]
    assert not all(pairs_equal)
    assert sum(pairs_equal) <= 2
