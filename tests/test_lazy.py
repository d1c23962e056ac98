"""Lazy package attributes: every name resolves to the object its module defines, in any import order."""

import importlib
import subprocess
import sys

LAZY_PACKAGES = ["wsiseg.classifiers", "wsiseg.evaluation", "wsiseg.inference", "wsiseg.mining"]

# a fresh interpreter: every submodule first (which sets the package's attributes of their names), then the names
CHECK = """
import importlib, sys
bad = []
for package in sys.argv[1:]:
    pkg = importlib.import_module(package)
    for module in sorted(set(pkg._SOURCES.values())):
        importlib.import_module(package + "." + module)
    bad += [f"{package}.{n}" for n, m in pkg._SOURCES.items()
            if getattr(pkg, n) is not getattr(sys.modules[package + "." + m], n)]
print(bad)
"""


def test_every_name_is_its_modules_object_after_the_modules_were_imported():
    out = subprocess.run([sys.executable, "-c", CHECK, *LAZY_PACKAGES], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_name_spelt_like_its_module_is_the_function():
    froc_module = importlib.import_module("wsiseg.evaluation.froc")
    from wsiseg.evaluation import froc

    assert froc is froc_module.froc
    assert callable(froc)


def test_the_config_schemas_cost_no_sklearn_torch_or_matplotlib():
    """Every entry script imports wsiseg.tasks (the schemas) first: it must not pay for the heavy libraries."""
    check = "import sys, wsiseg.tasks; print(sorted({'sklearn', 'torch', 'matplotlib', 'xgboost'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
