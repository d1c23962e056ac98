"""The benchmark scripts import their siblings by name, as ``python benchmarks/<script>.py`` does."""

import sys

from tests.conftest import REPO

if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))
