"""On-the-fly augmentation with albumentations; image and mask are always transformed together.

Flips, 90-degree rotations (a switch: on in the paper's first version, off in its update), HSV,
brightness / contrast, and an optional H&E stain jitter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

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


@dataclass(frozen=True)
class HSVJitter:
    """Hue / saturation / value shifts (albumentations' ``HueSaturationValue``); all limits 0 disable it.

    Attributes:
        hue: hue shift limit (albumentations units).
        sat: saturation shift limit.
        val: value shift limit.
        p: probability of the change.
    """

    hue: float = 10
    sat: float = 15
    val: float = 10
    p: float = 0.5

    def transform(self) -> A.BasicTransform | None:
        """The albumentations transform, or ``None`` when every limit is 0."""
        if not (self.hue or self.sat or self.val):
            return None
        return A.HueSaturationValue(self.hue, self.sat, self.val, p=self.p)


@dataclass(frozen=True)
class BrightnessContrast:
    """Brightness / contrast changes (albumentations' ``RandomBrightnessContrast``); both limits 0 disable it.

    Attributes:
        brightness: brightness limit.
        contrast: contrast limit.
        p: probability of the change.
    """

    brightness: float = 0.1
    contrast: float = 0.1
    p: float = 0.5

    def transform(self) -> A.BasicTransform | None:
        """The albumentations transform, or ``None`` when both limits are 0."""
        if not (self.brightness or self.contrast):
            return None
        return A.RandomBrightnessContrast(self.brightness, self.contrast, p=self.p)


@dataclass(frozen=True)
class StainJitter:
    """H&E stain jitter (:class:`HEDJitter`); off by default, ``sigma = bias = 0`` disables it.

    Attributes:
        sigma: multiplicative jitter of the stain concentrations.
        bias: additive jitter of the stain concentrations.
        p: probability of the jitter.
    """

    sigma: float = 0.0
    bias: float = 0.0
    p: float = 0.5

    def transform(self) -> A.BasicTransform | None:
        """The albumentations transform, or ``None`` when ``sigma`` and ``bias`` are 0."""
        return HEDJitter(self.sigma, self.bias, p=self.p) if self.sigma or self.bias else None


_Family = TypeVar("_Family", HSVJitter, BrightnessContrast, StainJitter)


def _record(kind: type[_Family], value: _Family | Mapping[str, float]) -> _Family:
    """A family's settings as its record: a config node arrives as a mapping of its fields."""
    return value if isinstance(value, kind) else kind(**value)


def build_augmentation(
    flip: bool = True,
    rotate90: bool = False,
    hsv: HSVJitter | Mapping[str, float] = HSVJitter(),
    brightness_contrast: BrightnessContrast | Mapping[str, float] = BrightnessContrast(),
    stain: StainJitter | Mapping[str, float] = StainJitter(),
    extra: Sequence[A.BasicTransform] = (),
) -> A.Compose:
    """The paper's augmentation as one albumentations pipeline, every part a setting.

    Each colour family is one record (or, from a config, a mapping of its fields: ``hsv: {hue: 10, p: 1}``),
    so that a family's limits and probability travel together.

    Args:
        flip: horizontal and vertical flips (p=0.5 each).
        rotate90: random multiples of 90 degrees (the paper's first version; removed in its update).
        hsv: the HSV shifts (:class:`HSVJitter`).
        brightness_contrast: the brightness / contrast change (:class:`BrightnessContrast`).
        stain: the H&E stain jitter (:class:`StainJitter`; off by default).
        extra: further albumentations transforms appended as given (e.g. from a Hydra list).
    """
    transforms: list[A.BasicTransform] = []
    if flip:
        transforms += [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
    if rotate90:
        transforms.append(A.RandomRotate90(p=1.0))
    families = (_record(HSVJitter, hsv), _record(BrightnessContrast, brightness_contrast), _record(StainJitter, stain))
    transforms += [t for t in (family.transform() for family in families) if t is not None]
    return A.Compose([*transforms, *extra])
