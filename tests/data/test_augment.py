import numpy as np
import pytest

from wsiseg.data import BrightnessContrast, HEDJitter, HSVJitter, StainJitter, build_augmentation

NO_COLOUR = {"hsv": HSVJitter(0, 0, 0), "brightness_contrast": BrightnessContrast(0, 0)}


def _marked_image(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey image whose mask is exactly 'bright': white blobs on near-black, so colour jitter cannot flip it."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((64, 64), np.uint8)
    for _ in range(3):
        r, c = rng.integers(8, 56, 2)
        mask[r - 6 : r + 6, c - 3 : c + 9] = 1
    mask[0:10, 0:5] = 1  # an asymmetric corner mark: flips and rotations move it
    image = np.where(mask[..., None] == 1, 235, 20).astype(np.uint8).repeat(3, axis=2)
    return image, mask


@pytest.mark.parametrize("seed", range(20))
def test_image_and_mask_stay_aligned(seed):
    aug = build_augmentation(
        flip=True, rotate90=True, hsv=HSVJitter(p=1), brightness_contrast=BrightnessContrast(p=1),
        stain=StainJitter(sigma=0.05, bias=0.01),
    )  # fmt: skip
    image, mask = _marked_image(seed)
    out = aug(image=image, mask=mask)
    assert np.array_equal(out["mask"], (out["image"].mean(axis=2) > 128).astype(np.uint8))


def test_rotation_is_a_switch():
    names = lambda a: [type(t).__name__ for t in a.transforms]  # noqa: E731
    assert "RandomRotate90" in names(build_augmentation(rotate90=True))
    assert "RandomRotate90" not in names(build_augmentation(rotate90=False))
    assert names(build_augmentation(flip=False, **NO_COLOUR)) == []
    assert "HEDJitter" in names(build_augmentation(stain=StainJitter(sigma=0.1)))


def test_geometry_really_moves_pixels():
    aug = build_augmentation(flip=True, rotate90=True, **NO_COLOUR)
    aug.set_random_seed(0)  # about 1 draw in 5 is the identity (no flip, no turn): unseeded, 20 draws were flaky
    image, mask = _marked_image(0)
    changed = sum(not np.array_equal(aug(image=image, mask=mask)["mask"], mask) for _ in range(40))
    assert changed >= 25


def test_hed_jitter_identity_and_effect():
    rng = np.random.default_rng(0)
    image = rng.integers(30, 250, (32, 32, 3), dtype=np.uint8)
    same = HEDJitter(sigma=0.0, bias=0.0, p=1.0)(image=image)["image"]
    assert np.abs(same.astype(int) - image).max() <= 1
    moved = HEDJitter(sigma=0.3, bias=0.05, p=1.0)(image=image)["image"]
    assert np.abs(moved.astype(int) - image).mean() > 2


def test_a_config_node_gives_each_family_as_a_mapping():
    aug = build_augmentation(
        hsv={"hue": 5, "sat": 0, "val": 0, "p": 1}, brightness_contrast={"brightness": 0, "contrast": 0}
    )
    hsv = [t for t in aug.transforms if type(t).__name__ == "HueSaturationValue"]
    assert len(hsv) == 1 and hsv[0].p == 1 and "RandomBrightnessContrast" not in [type(t).__name__ for t in aug]
    with pytest.raises(TypeError):
        build_augmentation(stain={"sigmaa": 0.1})  # a typo fails, naming the key
