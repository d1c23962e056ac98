"""A checkpoint is data: what prediction needs, as plain typed values, and an allow-list of networks.

Every ``train.py`` checkpoint carries a :class:`ModelSpec` under ``"wsiseg_model"``: the network's name
(a key of :data:`NETWORKS`, wsiseg's own networks) and its keyword arguments, the normalisation, the input
resolution in um/px, the tile size, the patient split and the tissue detector's settings of the training run
(``predict.py`` finds tissue with them). :func:`load_model` rebuilds the module from that record alone;
nothing read from a file is ever instantiated as a ``_target_`` (a crafted checkpoint made of plain strings
could otherwise name any function with side effects, e.g. one that truncates a file).

Anything else is refused with a :class:`~wsiseg.errors.CheckpointError` naming the file: an unknown network,
an argument the network does not take, a value that is not a plain scalar, a tissue setting that
:class:`~wsiseg.tissue.TissueParams` does not have, weights that do not fit the described network, or a
stored model config naming a class outside :func:`trusted_target`. Checkpoints from before the record
(config only) are read by :func:`spec_from_config`, which maps the stored strings through
the same allow-list.
"""

from __future__ import annotations

import inspect
import math
import sys
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wsiseg.data.datamodule import PatchDataModule
from wsiseg.data.stain import StainNormalizer
from wsiseg.errors import CheckpointError
from wsiseg.model.losses import BCEDiceLoss
from wsiseg.model.module import SegmentationModule
from wsiseg.model.smp import SmpNetwork
from wsiseg.model.unet import UNet
from wsiseg.model.vit import ViTSegmenter
from wsiseg.tissue import TissueParams

MODEL_KEY = "wsiseg_model"
CONFIG_KEY = "wsiseg_config"
#: Lightning stores a datamodule's ``state_dict`` under ``type(datamodule).__qualname__``.
DATAMODULE_KEY = PatchDataModule.__qualname__
SPEC_FORMAT = 1

#: The networks a checkpoint may name: wsiseg's U-Net, segmentation_models_pytorch networks on smp / timm
#: encoders, and a timm ViT behind a light decoder (extend with :func:`register_network`). A network class may
#: check its recorded values with a ``check_kwargs`` classmethod (allow-lists of architectures and encoders)
#: and accept extra recorded names in ``extra_kwargs``; ``weights`` (a training-time source) is never recorded.
NETWORKS: dict[str, type[nn.Module]] = {"UNet": UNet, "SmpNetwork": SmpNetwork, "ViTSegmenter": ViTSegmenter}
#: Classes other than networks that a stored model config may name (checked, never instantiated).
_MODULES = (SegmentationModule, BCEDiceLoss, StainNormalizer)
_SPLITS = ("train", "val", "test")
_SCALARS = (bool, int, float, str, type(None))


def register_network(name: str, cls: type[nn.Module]) -> None:
    """Allow checkpoints to name ``cls`` as ``name``; its instances must have an ``init_kwargs`` dict."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"{cls!r} is not an nn.Module class")
    NETWORKS[name] = cls


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def network_name(target: str) -> str | None:
    """The registered name of a network given by a ``_target_`` string (``wsiseg.model.UNet``), else None."""
    for name, cls in NETWORKS.items():
        if target in (name, _class_path(cls), f"wsiseg.model.{name}"):
            return name
    return None


def trusted_target(target: Any) -> bool:
    """Whether a ``_target_`` string in a stored model config names a class wsiseg itself writes there.

    wsiseg's networks, module and loss, and torch's optimizers, schedulers and losses. Decided from the string
    and modules already imported: nothing is imported or called.
    """
    if not isinstance(target, str):
        return False
    if network_name(target) or target in {p for c in _MODULES for p in (_class_path(c), f"wsiseg.model.{c.__name__}")}:
        return True
    bases = {"torch.optim.lr_scheduler.": torch.optim.lr_scheduler.LRScheduler, "torch.optim.": torch.optim.Optimizer,
             "torch.nn.": torch.nn.modules.loss._Loss}  # fmt: skip
    base = next((b for prefix, b in bases.items() if target.startswith(prefix)), None)
    return base is not None and _is_subclass(target, base)


def _is_subclass(target: str, base: type) -> bool:
    """Whether ``target`` names a subclass of ``base`` in an already imported module (nothing is imported)."""
    module, _, name = target.rpartition(".")
    obj = inspect.getattr_static(sys.modules[module], name, None) if module in sys.modules else None
    return isinstance(obj, type) and issubclass(obj, base)


def untrusted_targets(tree: Any, where: str = "model") -> list[str]:
    """``path = target`` of every ``_target_`` in ``tree`` that :func:`trusted_target` refuses."""
    found: list[str] = []
    if isinstance(tree, Mapping):
        if "_target_" in tree and not trusted_target(tree["_target_"]):
            found.append(f"{where}._target_ = {tree['_target_']!r}")
        for key, value in tree.items():
            found += untrusted_targets(value, f"{where}.{key}")
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            found += untrusted_targets(value, f"{where}[{i}]")
    return found


@dataclass(frozen=True)
class ModelSpec:
    """Everything prediction needs to rebuild a trained network, as plain typed values.

    Attributes:
        network: A key of :data:`NETWORKS`.
        network_kwargs: Its keyword arguments (plain scalars).
        input_mpp: um/px of the network input (the training patches after resizing).
        tile_size: Side of the network input in pixels.
        mean: Per-channel normalisation mean.
        std: Per-channel normalisation standard deviation.
        threshold: Probability threshold of the Dice / IoU metrics.
        channels_last: Whether the network ran in channels-last memory format.
        split: Patient -> ``train`` / ``val`` / ``test`` of the training run.
        tissue: The tissue detector's settings the training run sampled patches with (``None``: a checkpoint
            from before they were recorded, or a run without a :class:`~wsiseg.data.PatchDataModule`).
        stain: The stain normaliser's record (:meth:`~wsiseg.data.stain.StainNormalizer.record`: method,
            reference, settings), or ``None`` (no stain normalisation).
    """

    network: str
    network_kwargs: dict[str, bool | int | float | str | None]
    input_mpp: float
    tile_size: int
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.25, 0.25, 0.25)
    threshold: float = 0.5
    channels_last: bool = False
    split: dict[str, str] = field(default_factory=dict)
    tissue: TissueParams | None = None
    stain: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as stored in a checkpoint (lists, not tuples; plus its format number)."""
        record = asdict(self)
        record.update(mean=list(self.mean), std=list(self.std), format=SPEC_FORMAT, tissue=tissue_record(self.tissue))
        return record

    @classmethod
    def from_dict(cls, record: Any, source: str | Path) -> ModelSpec:
        """Validate a stored record strictly; ``source`` (the file) is named in every error.

        Raises:
            CheckpointError: Not a record of this format, an unknown network or argument, a wrong type.
        """
        if not isinstance(record, Mapping):
            raise CheckpointError(source, f"{MODEL_KEY!r} is a {type(record).__name__}, not a record")
        unknown = sorted(str(k) for k in record if k not in {*cls.__dataclass_fields__, "format"})
        if record.get("format") != SPEC_FORMAT or unknown:
            raise CheckpointError(source, f"unknown model record (format {record.get('format')!r}, keys {unknown})")
        check = _Checker(source)
        network = check.network(record.get("network"))
        return cls(
            network=network,
            network_kwargs=check.kwargs(network, record.get("network_kwargs", {})),
            input_mpp=check.number("input_mpp", record.get("input_mpp"), low=0.0),
            tile_size=check.integer("tile_size", record.get("tile_size")),
            mean=check.numbers("mean", record.get("mean", cls.mean)),
            std=check.numbers("std", record.get("std", cls.std), low=0.0),
            threshold=check.number("threshold", record.get("threshold", 0.5), low=0.0, high=1.0),
            channels_last=check.boolean("channels_last", record.get("channels_last", False)),
            split=check.split(record.get("split", {})),
            tissue=check.tissue(record.get("tissue")),
            stain=check.stain(record.get("stain")),
        )

    def build(self, channels_last: bool | None = None) -> SegmentationModule:
        """A fresh module for this record (random weights; for prediction: no optimizer)."""
        net = NETWORKS[self.network](**self.network_kwargs)
        chosen = self.channels_last if channels_last is None else channels_last
        stain = StainNormalizer.from_record(self.stain) if self.stain is not None else None
        return SegmentationModule(
            net, None, mean=self.mean, std=self.std, threshold=self.threshold, channels_last=chosen, stain=stain
        )


class _Checker:
    """Type checks of stored values; every failure raises :class:`CheckpointError` naming the file."""

    def __init__(self, source: str | Path) -> None:
        self.source = source

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(self.source, f"refusing its model record: {what}")

    def network(self, value: Any) -> str:
        if not isinstance(value, str) or value not in NETWORKS:
            raise self.fail(f"network {value!r} is not one of wsiseg's networks {sorted(NETWORKS)}")
        return value

    def kwargs(self, network: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"network_kwargs is a {type(value).__name__}, not a mapping")
        cls = NETWORKS[network]
        allowed = (_init_parameters(cls) | set(getattr(cls, "extra_kwargs", ()))) - {"weights"}
        for key, item in value.items():
            if key not in allowed:
                raise self.fail(f"{network} takes no argument {key!r} (it takes {sorted(allowed)})")
            if not isinstance(item, _SCALARS):
                raise self.fail(f"{network} argument {key!r} is a {type(item).__name__}, not a plain value")
        check = getattr(cls, "check_kwargs", None)
        if check is not None:
            try:
                check(dict(value))
            except (ValueError, TypeError) as err:
                raise self.fail(f"{network}: {err}") from err
        return dict(value)

    def number(self, name: str, value: Any, low: float | None = None, high: float | None = None) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (low is not None and value <= low) or (high is not None and value >= high):
            raise self.fail(f"{name} = {value!r} is not a number in ({low}, {high})")
        return float(value)

    def integer(self, name: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.fail(f"{name} = {value!r} is not a positive integer")
        return value

    def numbers(self, name: str, value: Any, low: float | None = None) -> tuple[float, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise self.fail(f"{name} = {value!r} is not a list of numbers")
        return tuple(self.number(name, v, low) for v in value)

    def boolean(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(f"{name} = {value!r} is not true or false")
        return value

    def split(self, value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise self.fail(f"split is a {type(value).__name__}, not a mapping")
        for patient, part in value.items():
            if not isinstance(patient, str) or part not in _SPLITS:
                raise self.fail(f"split entry {patient!r}: {part!r} is not one of {_SPLITS}")
        return dict(value)

    def stain(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            return StainNormalizer.from_record(value).record()
        except (ValueError, TypeError) as err:
            raise self.fail(f"stain: {err}") from err

    def tissue(self, value: Any) -> TissueParams | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(f"tissue is a {type(value).__name__}, not a mapping")
        for key, item in value.items():
            if key not in _TISSUE_TYPES:
                raise self.fail(f"tissue has no setting {key!r} (TissueParams has {sorted(_TISSUE_TYPES)})")
            kind = _TISSUE_TYPES[key]
            if not _is_plain(kind, item):
                raise self.fail(f"tissue.{key} = {item!r} is not a plain {getattr(kind, '__name__', kind)}")
        try:
            return TissueParams(**value)
        except ValueError as err:
            raise self.fail(f"tissue: {err}") from err


#: The type of every tissue setting (``TissueParams``' annotations): what a stored value must be.
_TISSUE_TYPES: dict[str, Any] = typing.get_type_hints(TissueParams)


def _is_plain(kind: Any, value: Any) -> bool:
    """Whether a stored value is a plain ``bool``, ``int``, ``float`` (an ``int`` too) or tuple of floats."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return number and isinstance(value, int)
    if kind is float:
        return number
    return (
        typing.get_origin(kind) is tuple and isinstance(value, list | tuple) and all(_is_plain(float, v) for v in value)
    )


def tissue_record(params: TissueParams | None) -> dict[str, Any] | None:
    """The tissue settings as a checkpoint stores them: plain values, lists for the hue ranges."""
    if params is None:
        return None
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(params).items()}


def check_split(value: Any, source: str | Path) -> dict[str, str]:
    """A stored patient split (patient -> train / val / test), checked; ``source`` is named in errors."""
    return _Checker(source).split(value)


def _init_parameters(cls: type) -> set[str]:
    """Names of the keyword arguments of ``cls.__init__`` (no ``*args`` / ``**kwargs``)."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name for p in params if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
