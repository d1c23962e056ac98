"""``PatchDataModule``: slides -> split by patient -> patches sampled in advance -> cache -> loaders."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import pytorch_lightning as pl
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler

from wsiseg.cohorts import BAD_DATA, CohortOptions, Inventory, SlideRecord, read_inventory
from wsiseg.data.cache import PatchCache, build_cache, build_lock, cache_key, open_cache, stale_builds
from wsiseg.data.dataset import PatchDataset
from wsiseg.data.samplers import RoundSampler
from wsiseg.locks import claimed, new_run_id, owner
from wsiseg.sampling import SamplingSpec, SplitSpec, draw_patches, patient_split, plan_slides, training_selection
from wsiseg.tissue import DEFAULT_PARAMS, TissueParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoaderSpec:
    """How patches reach the network: the batch size, the worker processes, and the transforms.

    The ``data.loader`` node. Grouped because these settings change together from machine to machine (a
    debug run, a CPU, a GPU node) and with the experiment (the augmentation), while the other arguments of
    :class:`PatchDataModule` decide which patches exist, and hence the cache.

    Attributes:
        batch_size: patches per batch (per process under DDP).
        num_workers: DataLoader worker processes.
        prepare_workers: processes planning and extracting patches into the cache.
        train_transform: augmentation for training (albumentations), or ``None``.
        val_transform: transform for validation, or ``None``.
    """

    batch_size: int = 32
    num_workers: int = 2
    prepare_workers: int = 2
    train_transform: A.Compose | None = None
    val_transform: A.Compose | None = None

    def plain(self) -> dict[str, int]:
        """The plain settings (for ``hparams.yaml``): the transforms are objects and stay out."""
        return {"batch_size": self.batch_size, "num_workers": self.num_workers, "prepare_workers": self.prepare_workers}


class PatchDataModule(pl.LightningDataModule):
    """The paper's training data: ROI-filtered patches sampled in advance, augmented on the fly.

    The recipe, the tissue detector and the patient split are records built by their own config nodes
    (``conf/sampling``, ``conf/tissue``, ``data.split``) and handed in; this class only joins them to the cohorts.
    The loader settings are one record too (:class:`LoaderSpec`, ``data.loader``): what decides the patches
    (cohorts, cache, recipe, tissue, split, which datasets) stays flat and apart from how they are fed.

    Args:
        cohorts: cohort folders: the challenges' downloads as they are, the synthetic cohort, a plain folder.
        cache_dir: where patch caches live (one sub-folder per configuration digest).
        sampling: the patch-sampling recipe (magnification, sizes, 4N normals, the oversampling ratio, seed).
        tissue: the tissue detector's settings (the ROI that normal patches must lie in).
        split: the patient split (validation / test fractions, seed); ``None``: :class:`SplitSpec` defaults.
        tumour_from: datasets whose annotated tumour slides are used.
        normal_from: datasets whose normal slides are used (the update: CAMELYON17 only).
        loader: batch size, worker processes and transforms; ``None``: :class:`LoaderSpec` defaults.
        cohort_options: how the cohorts are read and checked (``conf/cohorts``: annotation group roles, slide
            checks, what a bad slide does); ``None``: :class:`~wsiseg.cohorts.CohortOptions` defaults.
    """

    def __init__(  # noqa: PLR0913 - cohort_options is conf/cohorts' record, shared with predict.py and stage.py
        self,
        cohorts: Sequence[str | Path],
        cache_dir: str | Path,
        sampling: SamplingSpec,
        tissue: TissueParams = DEFAULT_PARAMS,
        split: SplitSpec | None = None,
        tumour_from: Sequence[str] = ("camelyon16", "camelyon17"),
        normal_from: Sequence[str] = ("camelyon17",),
        loader: LoaderSpec | None = None,
        cohort_options: CohortOptions | None = None,
    ) -> None:
        super().__init__()
        # the records are not hyper-parameters Lightning may pickle into checkpoints (a checkpoint is data)
        self.save_hyperparameters(ignore=["sampling", "tissue", "split", "loader", "cohort_options"], logger=False)
        self.cohort_options = cohort_options or CohortOptions()
        self._inventory: Inventory | None = None
        self.spec, self.tissue, self.split_spec = sampling, tissue, split or SplitSpec()
        self.loader = loader or LoaderSpec()
        self.cohorts = [Path(c) for c in cohorts]
        self.cache_dir = Path(cache_dir)
        self.train_set: PatchDataset | None = None
        self.val_set: PatchDataset | None = None
        self.pool: PatchCache | None = None  # mined hard negatives (a later round; see set_round)
        self.pool_share = 0.0
        self.sample_weights: np.ndarray | None = None

    # -- what the data is -------------------------------------------------------------------------------
    def inventory(self) -> Inventory:
        """The cohorts' inventory, the slides training leaves out among its files left out (read once).

        Raises:
            RuntimeError: no slide is left to train on, or ``cohorts.on_bad_slide=fail`` and a file is bad.
        """
        if self._inventory is None:
            found = read_inventory(self.cohorts, self.cohort_options)
            _, left_out = training_selection(found.records, self.hparams.tumour_from, self.hparams.normal_from)
            inventory = found.leaving_out(left_out)
            bad = [e for e in inventory.excluded if e.reason in BAD_DATA]
            if bad and self.cohort_options.on_bad_slide == "fail":
                listed = "; ".join(f"{e.name}: {e.reason} ({e.detail})" for e in bad[:5])
                raise RuntimeError(f"{len(bad)} bad files in the cohorts (cohorts.on_bad_slide=fail): {listed}")
            if not inventory.records:
                raise RuntimeError(f"no slide left to train on in {', '.join(map(str, self.cohorts))}: "
                                   f"{len(inventory.excluded)} files left out ({inventory.reasons()})")  # fmt: skip
            self._inventory = inventory
        return self._inventory

    def slides(self) -> list[SlideRecord]:
        """The training slides of every cohort (annotated tumour slides and normal slides)."""
        return list(self.inventory().records)

    def split_patients(self, slides: Sequence[SlideRecord]) -> dict[str, str]:
        """Patient -> ``train`` / ``val`` / ``test``."""
        return patient_split(slides, self.split_spec)

    def settings(self) -> dict[str, Any]:
        """Every setting as plain values (for ``hparams.yaml``): the arguments, its records as dicts."""
        return dict(self.hparams) | {
            "sampling": asdict(self.spec), "tissue": asdict(self.tissue), "split": asdict(self.split_spec),
            "loader": self.loader.plain(), "cohort_options": asdict(self.cohort_options),
        }  # fmt: skip

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
        split_of = self.split_patients(slides)
        key = cache_key(self.spec, slides, split_of, self.tissue)
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
        workers = self.loader.prepare_workers
        patches = {}
        for split, oversample in (("train", True), ("val", False)):
            chosen = [s for s in slides if split_of[s.patient] == split]
            skip = self.cohort_options.on_bad_slide == "skip"
            plans = plan_slides(chosen, self.spec, self.tissue, workers, skip_bad=skip)
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
        self.train_set = self._dataset(cache, "train", True, self.loader.train_transform)
        self.val_set = self._dataset(cache, "val", False, self.loader.val_transform)

    def set_round(self, pool: PatchCache | None = None, share: float = 0.0, weights: np.ndarray | None = None) -> None:
        """What a later training round adds: a pool, and weights; both take effect at the next ``setup``.

        The pool's mined patches are drawn at ``share`` of every batch; the weights are per-patch sampling
        weights of the training patches (importance sampling; one per row of ``train_set``, oversampling
        repeats included).
        """
        self.pool, self.pool_share, self.sample_weights = pool, share, weights

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

    def _round_set(self) -> Dataset:
        """The training patches, followed by the mined pool when this round has one."""
        if self.pool is None:
            return self.train_set
        pool = PatchDataset(self.pool.images_path, self.pool.masks_path, self.pool.rows("mined", False),
                            self.loader.train_transform)  # fmt: skip
        return ConcatDataset([self.train_set, pool])

    def _round_loader(self) -> DataLoader:
        """A later round's loader: :class:`RoundSampler` (pool share, importance weights), DDP-aware."""
        dataset = self._round_set()
        world, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
        sampler = RoundSampler(dataset, len(self.train_set), self.loader.batch_size, self.pool_share,
                               self.sample_weights, world, rank, self.spec.seed)  # fmt: skip
        workers = self.loader.num_workers
        return DataLoader(dataset, batch_size=self.loader.batch_size, sampler=sampler, num_workers=workers,
                          persistent_workers=workers > 0, drop_last=True)  # fmt: skip

    def _loader(self, dataset: PatchDataset, shuffle: bool) -> DataLoader:
        workers, batch_size = self.loader.num_workers, self.loader.batch_size
        distributed = self.trainer is not None and self.trainer.world_size > 1
        # one process: a DistributedSampler of one replica, whose order is randperm(seed + epoch) (Lightning calls
        # set_epoch every epoch), so a resumed run repeats the order exactly; a RandomSampler would not (its
        # generator's state depends on the epochs run before). Several: shuffle=True, which Lightning turns into
        # a DistributedSampler per process (seeded by the run's seed, plus the epoch).
        sampler = None
        if shuffle and not distributed:
            sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=self.spec.seed)
        return DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
            num_workers=workers, persistent_workers=workers > 0, drop_last=shuffle and len(dataset) > batch_size,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        """Shuffled (by seed and epoch), augmented, oversampled training patches (and a round's pool)."""
        if self.pool is not None or self.sample_weights is not None:
            return self._round_loader()
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Validation patches, each once, in cache order."""
        return self._loader(self.val_set, shuffle=False)
