"""On-the-fly augmentation with albumentations; image and mask are always transformed together.

Flips, 90-degree rotations (a switch: on in the paper's first version, off in its update), HSV,
brightness / contrast, and an optional H&E stain jitter.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import numpy as np

# Ruifrok & Johnston's H&E(-DAB) optical-density basis and its inverse, for stain jitter.
_RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], np.float32)
_HED_FROM_RGB = np.linalg.inv(_RGB_FROM_HED).astype(np.float32)


class HEDJitter(A.ImageOnlyTransform):
    """Stain augmentation: perturb each stain's concentration in H&E(-D) space (Tellez et al.).

    Each channel c of the stain concentrations becomes ``c * alpha + beta`` with
    ``alpha ~ U(1 - sigma, 1 + sigma)`` and ``beta ~ U(-bias, bias)``. With ``sigma = bias = 0`` it is the
    identity (to 1 grey level).

    Kept rather than albumentations' ``HEStain`` (2.0.4+): HEStain models two stains, projecting every pixel
    onto the H-E plane of a fixed preset and dropping the rest of its optical density, so even with no
    jitter (scale 1, shift 0) it changes the picture: by 15.5 grey levels on average (47 at most) on the
    synthetic cohort's patches with the Ruifrok preset, 1.4 (4) with the closest one (Macenko), and it
    tints white glass blue. A full three-stain basis exists only in AlbumentationsX, another package under
    another licence (AGPL). ``skimage.color.rgb2hed`` clips negative concentrations: no identity either.

    Args:
        sigma: multiplicative jitter of the stain concentrations.
        bias: additive jitter of the stain concentrations.
        p: probability of applying it.
    """

    def __init__(self, sigma: float = 0.05, bias: float = 0.01, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.sigma, self.bias = sigma, bias

    def get_params_dependent_on_data(self, params, data):  # noqa: D102 (albumentations hook)
        rng = self.random_generator
        return {"alpha": rng.uniform(1 - self.sigma, 1 + self.sigma, 3), "beta": rng.uniform(-self.bias, self.bias, 3)}

    def apply(self, img: np.ndarray, alpha=None, beta=None, **params) -> np.ndarray:  # noqa: D102
        od = -np.log(np.maximum(img.astype(np.float32), 1.0) / 255.0)  # (H, W, 3) optical density
        hed = od @ _HED_FROM_RGB
        hed = hed * alpha.astype(np.float32) + beta.astype(np.float32)
        rgb = 255.0 * np.exp(-(hed @ _RGB_FROM_HED))
        return np.clip(rgb, 0, 255).astype(np.uint8)

    def get_transform_init_args_names(self) -> tuple[str, ...]:  # noqa: D102
        return ("sigma", "bias")


def build_augmentation(
    flip: bool = True,
    rotate90: bool = False,
    hue_shift: float = 10,
    sat_shift: float = 15,
    val_shift: float = 10,
    hsv_p: float = 0.5,
    brightness: float = 0.1,
    contrast: float = 0.1,
    brightness_p: float = 0.5,
    stain_sigma: float = 0.0,
    stain_bias: float = 0.0,
    stain_p: float = 0.5,
    extra: Sequence[A.BasicTransform] = (),
) -> A.Compose:
    """The paper's augmentation as one albumentations pipeline, every part a setting.

    Args:
        flip: horizontal and vertical flips (p=0.5 each).
        rotate90: random multiples of 90 degrees (the paper's first version; removed in its update).
        hue_shift: HSV hue shift limit (albumentations units; 0 disables HSV with sat/val 0).
        sat_shift: HSV saturation shift limit.
        val_shift: HSV value shift limit.
        hsv_p: probability of the HSV change.
        brightness: brightness limit (0 disables brightness/contrast with contrast 0).
        contrast: contrast limit.
        brightness_p: probability of the brightness/contrast change.
        stain_sigma: H&E stain jitter (0 disables it).
        stain_bias: additive stain jitter.
        stain_p: probability of the stain jitter.
        extra: further albumentations transforms appended as given (e.g. from a Hydra list).
    """
    transforms: list[A.BasicTransform] = []
    if flip:
        transforms += [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
    if rotate90:
        transforms.append(A.RandomRotate90(p=1.0))
    if hue_shift or sat_shift or val_shift:
        transforms.append(A.HueSaturationValue(hue_shift, sat_shift, val_shift, p=hsv_p))
    if brightness or contrast:
        transforms.append(A.RandomBrightnessContrast(brightness, contrast, p=brightness_p))
    if stain_sigma or stain_bias:
        transforms.append(HEDJitter(stain_sigma, stain_bias, p=stain_p))
    return A.Compose([*transforms, *extra])
