"""The README's layout section names every module of the package and every config group (it matches the tree)."""

import re

from tests.conftest import CONF, REPO

PACKAGE = REPO / "src" / "wsiseg"


def layout_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```\n(.*?)```", section, re.S).group(1)


def test_every_module_and_subpackage_is_in_the_layout():
    block = layout_block()
    for package in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        entry = f"\n  {package.name}/ "
        assert entry in block, package.name
        described = re.split(r"\n  \S", block.split(entry, 1)[1], maxsplit=1)[0]  # its lines in the block
        modules = sorted(m.name for m in package.glob("*.py") if m.name != "__init__.py")
        missing = [m for m in modules if m not in described] if len(modules) > 1 else []
        assert not missing, (package.name, missing)
    for module in sorted(PACKAGE.glob("*.py")):
        assert module.name == "__init__.py" or f"  {module.name}" in block, module.name


def test_every_config_group_is_in_the_layout():
    conf_line = layout_block().split("src/wsiseg/", 1)[0]
    groups = sorted(p.name for p in CONF.iterdir() if p.is_dir())
    assert [g for g in groups if f"{g}/" not in conf_line] == []
