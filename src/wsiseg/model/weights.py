"""Pretrained encoder weights: from a local file or the user's Hugging Face cache, never downloaded.

A weight source is a path to a ``.safetensors``, ``.bin``, ``.pth`` or ``.pt`` file, or ``hf-hub:<org>/<repo>``:
a model repository already in the Hugging Face cache (``huggingface-cli download <org>/<repo>`` once, on a
machine with internet; gated models such as UNI, Virchow or H-optimus need their licence accepted and
``huggingface-cli login`` first). Files are read as tensors only (safetensors, or ``torch.load(weights_only=True)``):
no pickled code runs. Nothing is fetched from the network: a missing file is an error naming the path and how to
get it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

HF_PREFIX = "hf-hub:"
#: File names a Hugging Face model repository keeps its weights under, in the order they are looked for.
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "pytorch_model.pth")
#: Keys of a classifier head: a classification checkpoint may hold them, a segmentation encoder has none.
HEAD_PREFIXES = ("fc.", "head.", "classifier.", "last_linear.", "head_drop.", "fc_norm.")


def resolve_weights(source: str | Path) -> Path:
    """The local file a weight source names.

    Raises:
        FileNotFoundError: The file does not exist, or the repository is not in the Hugging Face cache; the
            message says how to get it.
    """
    text = str(source)
    if text.startswith(HF_PREFIX):
        return _cached_hub_file(text[len(HF_PREFIX) :])
    path = Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"encoder weights not found: {path} (model.net.weights names a local file: a .safetensors, .bin or "
            "a .pth state dict; or hf-hub:<org>/<repo> for a repository in the Hugging Face cache; "
            "model.net.weights=null trains from random initialisation)"
        )
    return path


def _cached_hub_file(repo: str) -> Path:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    for name in HF_WEIGHT_FILES:
        try:
            return Path(hf_hub_download(repo, name, local_files_only=True))
        except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
            continue
    raise FileNotFoundError(
        f"hf-hub:{repo}: none of {', '.join(HF_WEIGHT_FILES)} is in the Hugging Face cache "
        f"({constants.HF_HUB_CACHE}); wsiseg never downloads weights. On a machine with internet: "
        f"`huggingface-cli download {repo}` (gated models: accept the licence on the model page and "
        "`huggingface-cli login` first), then copy the cache (or set HF_HOME); or name the file itself: "
        "model.net.weights=/path/to/pytorch_model.bin"
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a weight file (safetensors, or a torch file read weights-only), a ``state_dict`` key unwrapped."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: object = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "teacher"):  # common wrappings of a checkpoint's weights
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors")
    return dict(state)


def load_encoder_weights(encoder: nn.Module, source: str | Path, strip: tuple[str, ...] = ("module.",)) -> None:
    """Load pretrained weights into ``encoder``: every encoder tensor must be found, a classifier head is ignored.

    Args:
        encoder: The encoder module.
        source: A weight source (see :func:`resolve_weights`).
        strip: Key prefixes removed first (``module.``: weights saved from a DataParallel model).

    Raises:
        FileNotFoundError: No such file (see :func:`resolve_weights`).
        ValueError: The file does not fit the encoder (missing tensors, other shapes, unexpected non-head keys).
    """
    path = resolve_weights(source)
    state = read_state_dict(path)
    for prefix in strip:
        state = {k.removeprefix(prefix): v for k, v in state.items()}
    own = encoder.state_dict()
    wrong = sorted(k for k in own.keys() & state.keys() if own[k].shape != state[k].shape)
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(k for k in state.keys() - own.keys() if not k.startswith(HEAD_PREFIXES))
    if wrong or missing or unexpected:
        raise ValueError(
            f"{path} does not fit the encoder {type(encoder).__name__}: missing {missing[:3]} ({len(missing)}), "
            f"unexpected {unexpected[:3]} ({len(unexpected)}), other shape {wrong[:3]} ({len(wrong)})"
        )
    encoder.load_state_dict({k: state[k] for k in own}, strict=True)
    log.info("encoder weights: %s (%d tensors)", path, len(own))
