"""Stage 1b: the patch cache, datasets and the Lightning DataModule (with on-the-fly augmentation)."""

from wsiseg.data.augment import BrightnessContrast, HEDJitter, HSVJitter, StainJitter, build_augmentation
from wsiseg.data.cache import PatchCache, build_cache, cache_key, open_cache
from wsiseg.data.datamodule import LoaderSpec, PatchDataModule
from wsiseg.data.dataset import PatchDataset

__all__ = [
    "BrightnessContrast",
    "HEDJitter",
    "HSVJitter",
    "LoaderSpec",
    "PatchCache",
    "PatchDataModule",
    "PatchDataset",
    "StainJitter",
    "build_augmentation",
    "build_cache",
    "cache_key",
    "open_cache",
]
