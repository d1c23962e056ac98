"""The package mirrors the pipeline: each stage imports only from the stages before it (and the shared helpers).

Read from the source, every ``import`` (at the top, in functions, under ``TYPE_CHECKING``): a stage that
reached forward (``classifiers`` importing ``evaluation``, anything importing ``tasks``) fails here.
"""

import ast

from tests.conftest import REPO

PACKAGE = REPO / "src" / "wsiseg"
#: Modules every stage may use: errors, file writing, locks, the label and node rules.
SHARED = ["errors", "atomic", "lazy", "locks", "parallel", "provenance", "labels", "torchvision_hook", "compat"]
#: The stages in pipeline order; ``synth`` (the synthetic cohort) and ``tasks`` (the commands) on top.
STAGES = ["slide", "annotations", "cohorts", "tissue", "sampling", "data", "model", "inference", "export", "mining",
          "features", "classifiers", "staging", "evaluation", "synth", "tasks"]  # fmt: skip


def imported(path) -> set[str]:
    """The ``wsiseg`` subpackages and modules a file imports (``wsiseg.x.y`` -> ``x``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n.split(".")[1] for n in names if n.startswith("wsiseg.")}


def test_every_subpackage_is_a_known_stage():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert subpackages == set(STAGES)
    assert modules == set(SHARED)


def test_each_stage_imports_only_from_earlier_stages():
    allowed = set(SHARED)
    forward = {}
    for stage in STAGES:
        for path in sorted((PACKAGE / stage).rglob("*.py")):
            bad = imported(path) - allowed - {stage}
            if bad:
                forward[str(path.relative_to(PACKAGE))] = sorted(bad)
        allowed.add(stage)
    assert forward == {}


def test_shared_modules_import_no_stage():
    for name in SHARED:
        assert imported(PACKAGE / f"{name}.py") <= set(SHARED), name


def test_the_package_docstring_names_the_stages_in_order():
    import wsiseg

    doc = wsiseg.__doc__.replace("\n", " ")
    positions = [doc.index(f"``{stage}``") for stage in STAGES[:-2]]
    assert positions == sorted(positions)
