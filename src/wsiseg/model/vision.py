"""timm and segmentation_models_pytorch, imported on first use (a second or two: only their networks need them).

Both import torchvision; :mod:`wsiseg.torchvision_hook` lets PyPI's torchvision import beside torch's CPU build.
"""

from __future__ import annotations

import functools
from types import ModuleType

from wsiseg import torchvision_hook


@functools.cache
def vision_libraries() -> tuple[ModuleType, ModuleType]:
    """``(timm, segmentation_models_pytorch)``, imported."""
    torchvision_hook.install()
    import segmentation_models_pytorch
    import timm

    return timm, segmentation_models_pytorch
