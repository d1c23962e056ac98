"""Read and write the model record of a checkpoint, and rebuild the trained module from it (never from code).

Reading is one ``torch.load(weights_only=True)`` (no pickled code runs); what it returns is checked by
:class:`~wsiseg.model.spec.ModelSpec` and the weights must fit the network the record describes before any
memory is spent on them.
"""

from __future__ import annotations

import logging
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from wsiseg.errors import CheckpointError
from wsiseg.model.module import SegmentationModule
from wsiseg.model.spec import (
    CONFIG_KEY,
    DATAMODULE_KEY,
    MODEL_KEY,
    NETWORKS,
    ModelSpec,
    check_split,
    network_name,
    tissue_record,
    untrusted_targets,
)
from wsiseg.tissue import TissueParams

log = logging.getLogger(__name__)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents, loaded weights-only.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Not a torch checkpoint, a pickle payload (refused, never run), not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if not found and not zipfile.is_zipfile(path):
            raise CheckpointError(path, f"not a readable torch checkpoint (UnpicklingError: {err})") from err
        what = f"it would call {found.group(1)}" if found else "it holds objects other than tensors and plain values"
        raise CheckpointError(path, f"refused, nothing in it was run: {what} when loaded (a checkpoint is data; "
                              "only tensors and plain values are read)") from err  # fmt: skip
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(path, f"not a readable torch checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict):
        raise CheckpointError(path, f"holds a {type(state).__name__}, not a checkpoint dict")
    return state


def spec_from_config(config: Any, split: Mapping[str, str], source: str | Path) -> ModelSpec:
    """The record of a checkpoint written before it had one, from its stored training config.

    The config's strings are mapped through the allow-list (:data:`~wsiseg.model.spec.NETWORKS`); nothing
    in it is instantiated.

    Raises:
        CheckpointError: The config does not describe one of wsiseg's networks and its data resolution.
    """
    from wsiseg.sampling import magnification_mpp  # an earlier stage; only old checkpoints need it

    model = config.get("model") if isinstance(config, Mapping) else None
    data = config.get("data") if isinstance(config, Mapping) else None
    if not isinstance(model, Mapping) or not isinstance(data, Mapping) or not isinstance(model.get("net"), Mapping):
        raise CheckpointError(source, f"it has no {MODEL_KEY!r} record and its {CONFIG_KEY!r} names no model and data")
    net = dict(model["net"])
    name = network_name(net.pop("_target_", None))
    if name is None:
        raise CheckpointError(
            source,
            f"refusing it: model.net names {model['net'].get('_target_')!r}, "
            f"not one of wsiseg's networks {sorted(NETWORKS)}",
        )
    try:
        mpp = magnification_mpp(data["magnification"]) * data["patch_size"] / data["out_size"]
        tile = data["out_size"]
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as err:
        raise CheckpointError(source, f"its stored data config gives no input resolution ({err})") from err
    record = {key: model[key] for key in ("mean", "std", "threshold", "channels_last") if key in model}
    record |= {
        "format": 1,
        "network": name,
        "network_kwargs": net,
        "input_mpp": mpp,
        "tile_size": tile,
        "split": dict(split),
    }
    return ModelSpec.from_dict(record, source)


def checkpoint_spec(state: Mapping[str, Any], source: str | Path) -> ModelSpec:
    """The checked model record of loaded checkpoint contents (``source``: the file, for messages).

    Raises:
        CheckpointError: No usable record, or a stored model config naming a class outside the allow-list.
    """
    config = state.get(CONFIG_KEY)
    if isinstance(config, Mapping) and "model" in config:
        bad = untrusted_targets(config["model"])
        if bad:
            raise CheckpointError(
                source,
                f"refusing it: its stored model config names {bad[0]}, which is not a "
                "class of wsiseg's models or torch's optimizers (a checkpoint is data)",
            )
    if MODEL_KEY in state:
        return ModelSpec.from_dict(state[MODEL_KEY], source)
    return spec_from_config(config, _datamodule_split(state) or {}, source)


def _datamodule_split(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The split ``PatchDataModule.state_dict`` saved (checkpoints from before the record), unchecked."""
    datamodule = state.get(DATAMODULE_KEY)
    split = datamodule.get("split") if isinstance(datamodule, Mapping) else None
    return split if isinstance(split, Mapping) else None


def load_model(path: str | Path, channels_last: bool | None = None) -> tuple[SegmentationModule, ModelSpec]:
    """Rebuild the trained module from a checkpoint's record and weights alone, in eval mode.

    Args:
        path: A ``train.py`` checkpoint.
        channels_last: Run in channels-last memory format (faster on GPUs); ``None`` keeps the training choice.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Refused or unusable (see :func:`read_checkpoint`, :func:`checkpoint_spec`), or its
            weights do not fit the network its record describes.
    """
    state = read_checkpoint(path)
    spec = checkpoint_spec(state, path)
    weights = state.get("state_dict")
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(path, "its 'state_dict' is not a mapping of tensors")
    _check_shapes(spec, weights, path)
    module = spec.build(channels_last)
    module.load_state_dict(weights)
    return module.eval(), spec


def _check_shapes(spec: ModelSpec, weights: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Compare the weights with the described network built on the meta device (no memory spent)."""
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in spec.build().state_dict().items()}
    except (TypeError, ValueError) as err:
        raise CheckpointError(path, f"its record describes no valid {spec.network} ({err})") from err
    found = {k: tuple(v.shape) for k, v in weights.items()}
    if found != expected:
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        wrong = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
        raise CheckpointError(
            path,
            f"its weights do not fit {spec.network}({spec.network_kwargs}): "
            f"missing {missing[:3]}, unexpected {extra[:3]}, other shape {wrong[:3]}",
        )


def spec_of_module(
    module: pl.LightningModule,
    input_mpp: float,
    tile_size: int,
    split: Mapping[str, str] | None = None,
    tissue: TissueParams | None = None,
) -> ModelSpec:
    """The record of a :class:`SegmentationModule` whose network is registered, checked as a reader would.

    ``tissue``: the tissue detector's settings the run sampled patches with (``predict.py`` uses them).

    Raises:
        CheckpointError: The network is not one of :data:`~wsiseg.model.spec.NETWORKS`.
    """
    net = getattr(module, "net", None)
    name = next((n for n, cls in NETWORKS.items() if type(net) is cls), None)
    if name is None:
        raise CheckpointError("<the training run>", f"network {type(net).__name__} is not registered "
                              "(wsiseg.model.register_network); predict.py could not rebuild it")  # fmt: skip
    hp = module.hparams
    record = {
        "format": 1, "network": name, "network_kwargs": dict(net.init_kwargs), "input_mpp": input_mpp,
        "tile_size": tile_size, "mean": list(hp.get("mean", (0.5,) * 3)), "std": list(hp.get("std", (0.25,) * 3)),
        "threshold": hp.get("threshold", 0.5), "channels_last": hp.get("channels_last", False),
        "split": dict(split or {}), "tissue": tissue_record(tissue),
        "stain": module.stain.record() if getattr(module, "stain", None) is not None else None,
    }  # fmt: skip
    return ModelSpec.from_dict(record, "<the training run>")


def spec_of_run(trainer: pl.Trainer, module: pl.LightningModule, **given: Any) -> ModelSpec | None:
    """The record of a module being trained: its network, the datamodule's resolution, split and tissue settings.

    ``given`` (``input_mpp``, ``tile_size``, ``split``, ``tissue``) fills in what a run without a
    :class:`~wsiseg.data.PatchDataModule` cannot tell. ``None`` (with a warning) when the network is not
    registered or the resolution is unknown: such a checkpoint cannot be used by ``predict.py``.
    """
    datamodule = getattr(trainer, "datamodule", None)
    values = {key: getattr(datamodule, key, None) for key in ("input_mpp", "tile_size")}
    values["split"] = getattr(datamodule, "split_of", None)
    tissue = getattr(datamodule, "tissue", None)
    values["tissue"] = tissue if isinstance(tissue, TissueParams) else None
    values |= {k: v for k, v in given.items() if v is not None}
    if values["input_mpp"] is None or values["tile_size"] is None:
        log.warning("no %r record in the checkpoint (the input resolution is unknown): predict.py will refuse "
                    "it; pass input_mpp= and tile_size= to ConfigInCheckpoint", MODEL_KEY)  # fmt: skip
        return None
    try:
        return spec_of_module(module, values["input_mpp"], values["tile_size"], values["split"], values["tissue"])
    except CheckpointError as err:
        log.warning("no %r record in the checkpoint: %s", MODEL_KEY, err.reason)
        return None


def stored_split(state: Mapping[str, Any], source: str | Path) -> dict[str, str] | None:
    """The patient split a checkpoint records, after checking its model record; None when it has none.

    Raises:
        CheckpointError: The checkpoint describes a model and :func:`checkpoint_spec` refuses it.
    """
    if MODEL_KEY in state or CONFIG_KEY in state:
        split = checkpoint_spec(state, source).split
        if split:
            return split
    split = _datamodule_split(state)
    return check_split(split, source) if split else None


def tensorboard_folder(state: Mapping[str, Any]) -> Path | None:
    """The TensorBoard folder the checkpoint's run logged to (from its stored config), when it still exists."""
    config = state.get(CONFIG_KEY)
    logger = config.get("logger") if isinstance(config, Mapping) else None
    tensorboard = logger.get("tensorboard") if isinstance(logger, Mapping) else None
    if not isinstance(tensorboard, Mapping):
        return None
    folder = Path(str(tensorboard.get("save_dir", ""))) / str(tensorboard.get("name", ""))
    return folder if folder.is_dir() else None
