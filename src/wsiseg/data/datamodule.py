"""``PatchDataModule``: slides -> split by patient -> patches sampled in advance -> cache -> loaders."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import pytorch_lightning as pl
from torch.utils.data import DataLoader, DistributedSampler

from wsiseg.data.cache import PatchCache, build_cache, build_lock, cache_key, open_cache, stale_builds
from wsiseg.data.dataset import PatchDataset
from wsiseg.locks import claimed, new_run_id, owner
from wsiseg.sampling import (
    SamplingSpec,
    SlideRecord,
    SplitSpec,
    draw_patches,
    magnification_mpp,
    patient_split,
    plan_slides,
    read_cohort,
    select_training_slides,
)

log = logging.getLogger(__name__)


class PatchDataModule(pl.LightningDataModule):
    """The paper's training data: ROI-filtered patches sampled in advance, augmented on the fly.

    Args:
        cohorts: cohort folders (synthetic ``manifest.csv`` or the real CAMELYON16/17 layouts).
        cache_dir: where patch caches live (one sub-folder per configuration digest).
        magnification: ``"40x"``, ``"20x"``, ... or the read resolution in um/px.
        patch_size: patch side at ``magnification`` (512 in the paper).
        out_size: side the patch is resized to, the network input (256 in the paper).
        normal_per_tumour: normal patches per tumour patch (4).
        neg_pos_ratio: normal : tumour after oversampling (2 in the first version, 3 in the update).
        normal_from_tumour_slides: share of normal patches from tumour slides' normal tissue.
        tumour_margin_um: distance kept between normal patches and tumour.
        min_tissue: minimum tissue fraction of a normal patch.
        tumour_from: datasets whose annotated tumour slides are used.
        normal_from: datasets whose normal slides are used (the update: CAMELYON17 only).
        val_fraction: share of patients for validation.
        test_fraction: share of patients held out from training altogether (slide-level evaluation).
        split_seed: seed of the patient split.
        sampling_seed: seed of patch sampling.
        batch_size: patches per batch (per process under DDP).
        num_workers: DataLoader worker processes.
        prepare_workers: processes planning and extracting patches.
        train_transform: augmentation for training (albumentations), or ``None``.
        val_transform: transform for validation, or ``None``.
    """

    def __init__(
        self,
        cohorts: Sequence[str | Path],
        cache_dir: str | Path,
        magnification: str | float = "20x",
        patch_size: int = 512,
        out_size: int = 256,
        normal_per_tumour: float = 4.0,
        neg_pos_ratio: float = 2.0,
        normal_from_tumour_slides: float = 0.5,
        tumour_margin_um: float = 100.0,
        min_tissue: float = 0.5,
        tumour_from: Sequence[str] = ("camelyon16", "camelyon17"),
        normal_from: Sequence[str] = ("camelyon17",),
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        split_seed: int = 0,
        sampling_seed: int = 0,
        batch_size: int = 32,
        num_workers: int = 2,
        prepare_workers: int = 2,
        train_transform: A.Compose | None = None,
        val_transform: A.Compose | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["train_transform", "val_transform"], logger=False)
        self.spec = SamplingSpec(
            mpp=magnification_mpp(magnification), patch_size=patch_size, out_size=out_size,
            normal_per_tumour=normal_per_tumour, neg_pos_ratio=neg_pos_ratio,
            normal_from_tumour_slides=normal_from_tumour_slides, tumour_margin_um=tumour_margin_um,
            min_tissue=min_tissue, seed=sampling_seed,
        )  # fmt: skip
        self.split_spec = SplitSpec(val_fraction, test_fraction, split_seed)
        self.cohorts = [Path(c) for c in cohorts]
        self.cache_dir = Path(cache_dir)
        self.train_transform, self.val_transform = train_transform, val_transform
        self.train_set: PatchDataset | None = None
        self.val_set: PatchDataset | None = None

    # -- what the data is -------------------------------------------------------------------------------
    def slides(self) -> list[SlideRecord]:
        """The training slides of every cohort (annotated tumour slides and normal slides)."""
        records = [r for root in self.cohorts for r in read_cohort(root)]
        return select_training_slides(records, self.hparams.tumour_from, self.hparams.normal_from)

    def split(self, slides: Sequence[SlideRecord]) -> dict[str, str]:
        """Patient -> ``train`` / ``val`` / ``test``."""
        return patient_split(slides, self.split_spec)

    @property
    def input_mpp(self) -> float:
        """um/px of the network input: patches read at ``magnification`` and resized to ``out_size``."""
        return self.spec.mpp * self.spec.patch_size / self.spec.out_size

    @property
    def tile_size(self) -> int:
        """Side of the network input in pixels (``out_size``)."""
        return self.spec.out_size

    def cache_folder(self) -> Path:
        """The cache folder of this exact configuration."""
        return self._cache_plan()[2]

    def _cache_plan(self) -> tuple[list[SlideRecord], dict[str, str], Path, str]:
        """Slides, their split, and the cache folder and key they and the recipe determine."""
        slides = self.slides()
        split_of = self.split(slides)
        key = cache_key(self.spec, slides, split_of)
        return slides, split_of, self.cache_dir / f"patches-{key}", key

    # -- Lightning hooks ----------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Sample and extract patches into the cache unless an identical complete cache exists (no state set).

        Another run building the same cache is waited for (and named), then its cache is reused.
        """
        slides, split_of, folder, key = self._cache_plan()
        if open_cache(folder, key) is not None:
            log.info("reusing patch cache %s", folder)
            return
        with claimed(build_lock(folder), owner(new_run_id()), f"the patch cache {folder}"):
            if open_cache(folder, key) is not None:
                log.info("reusing patch cache %s (built by another run meanwhile)", folder)
                return
            for stale in stale_builds(folder):  # a killed build's private folder
                shutil.rmtree(stale, ignore_errors=True)
            self._build(slides, split_of, folder, key)

    def _build(self, slides: list[SlideRecord], split_of: dict[str, str], folder: Path, key: str) -> None:
        workers = self.hparams.prepare_workers
        patches = {}
        for split, oversample in (("train", True), ("val", False)):
            chosen = [s for s in slides if split_of[s.patient] == split]
            plans = plan_slides(chosen, self.spec, workers)
            patches[split] = draw_patches(plans, self.spec, oversample_tumour=oversample)
            counts = Counter(p.label for p in patches[split])
            uses = sum(p.repeats for p in patches[split] if p.label == "tumour")
            log.info("%s: %d slides, %s, tumour uses after oversampling %d", split, len(chosen), dict(counts), uses)
        build_cache(folder, key, self.spec, slides, patches, workers)

    def setup(self, stage: str | None = None) -> None:
        """Open the cache built by :meth:`prepare_data` and make the datasets."""
        _, split_of, folder, key = self._cache_plan()
        cache = open_cache(folder, key)
        if cache is None:
            raise RuntimeError(f"no complete patch cache at {folder}; prepare_data() must run first")
        self.cache = cache
        self.split_of = dict(sorted(split_of.items()))
        self.train_set = self._dataset(cache, "train", True, self.train_transform)
        self.val_set = self._dataset(cache, "val", False, self.val_transform)

    def state_dict(self) -> dict[str, Any]:
        """Saved in every checkpoint (Lightning does it): the patient split, so later stages know the test patients."""
        return {"split": dict(getattr(self, "split_of", {}))}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """On resume: refuse a checkpoint whose patient split differs from the one this config gives."""
        saved = state_dict.get("split") or {}
        current = getattr(self, "split_of", None)
        if saved and current is not None and saved != current:
            changed = sorted(p for p in set(saved) | set(current) if saved.get(p) != current.get(p))
            raise RuntimeError(
                f"the checkpoint was trained with another patient split ({len(changed)} patients differ, e.g. "
                f"{changed[:3]}); resume with the same cohorts, split fractions and split_seed"
            )

    @staticmethod
    def _dataset(cache: PatchCache, split: str, expand: bool, transform: A.Compose | None) -> PatchDataset:
        return PatchDataset(cache.images_path, cache.masks_path, cache.rows(split, expand), transform)

    def _loader(self, dataset: PatchDataset, shuffle: bool) -> DataLoader:
        workers = self.hparams.num_workers
        distributed = self.trainer is not None and self.trainer.world_size > 1
        # one process: a DistributedSampler of one replica, whose order is randperm(seed + epoch) (Lightning calls
        # set_epoch every epoch), so a resumed run repeats the order exactly; a RandomSampler would not (its
        # generator's state depends on the epochs run before). Several: shuffle=True, which Lightning turns into
        # a DistributedSampler per process (seeded by the run's seed, plus the epoch).
        sampler = None
        if shuffle and not distributed:
            sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=self.hparams.sampling_seed)
        return DataLoader(
            dataset, batch_size=self.hparams.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
            num_workers=workers, persistent_workers=workers > 0,
            drop_last=shuffle and len(dataset) > self.hparams.batch_size,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        """Shuffled (by seed and epoch), augmented, oversampled training patches."""
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Validation patches, each once, in cache order."""
        return self._loader(self.val_set, shuffle=False)
