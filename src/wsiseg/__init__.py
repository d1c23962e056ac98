"""wsiseg: U-Net segmentation, slide classification and pN staging for CAMELYON-style whole-slide images.

The package mirrors the pipeline; each subpackage is one stage and imports only from the stages before it:
``slide`` -> ``annotations`` -> ``cohorts`` -> ``tissue`` -> ``sampling`` -> ``data`` -> ``model`` -> ``inference`` ->
``export`` -> ``mining`` -> ``features`` -> ``classifiers`` -> ``staging`` -> ``evaluation``, with ``synth`` (the
synthetic cohort) and ``tasks`` (the commands, the only code that reads configs) on top; ``errors``, ``labels``,
``torchvision_hook`` and ``compat`` (torchvision beside torch's CPU build) and a few file helpers are shared by all
(``tests/test_layers.py`` checks it).
"""

from wsiseg import torchvision_hook
from wsiseg.errors import AnnotationError, LabelError, SlideError, WsisegError

torchvision_hook.install()  # PyPI's torchvision beside torch's CPU build; imports nothing heavy

__all__ = ["AnnotationError", "LabelError", "SlideError", "WsisegError"]
__version__ = "0.1.0"
