"""The documentation matches the tree: the layout page names every module and config group, every page is in
mkdocs.yml's nav, and the README is a short guide linking the pages that exist.

The site itself is built by ``make docs`` (``mkdocs build --strict``), not here: these checks read files only.
"""

import re
from pathlib import Path

import yaml

from tests.conftest import CONF, REPO

PACKAGE = REPO / "src" / "wsiseg"
DOCS = REPO / "docs"
README_MAX_LINES = 300


def layout_block() -> str:
    """The module map: the first fenced block of the layout page."""
    return re.search(r"```\n(.*?)```", (DOCS / "layout.md").read_text(), re.S).group(1)


def nav_pages(nav: list) -> list[str]:
    """Every page file named in mkdocs.yml's nav, at any depth."""
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def mkdocs_nav() -> list:
    class Loader(yaml.SafeLoader):
        """mkdocs.yml may hold tags (``!!python/name:``, ``!ENV``) that only mkdocs resolves."""

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    return yaml.load((REPO / "mkdocs.yml").read_text(), Loader=Loader)["nav"]


def _read(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


def readme_links() -> list[str]:
    """The README's relative links into docs/, without their anchors."""
    text = (REPO / "README.md").read_text()
    return [link.split("#", 1)[0] for link in re.findall(r"\]\((docs/[^)\s]+)\)", text)]


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


def test_every_config_group_is_in_the_layout_and_the_configuration_page():
    conf_line = layout_block().split("src/wsiseg/", 1)[0]
    groups = sorted(p.name for p in CONF.iterdir() if p.is_dir())
    assert [g for g in groups if f"{g}/" not in conf_line] == []
    reference = (DOCS / "configuration.md").read_text()
    assert [g for g in groups if f"| `{g}`" not in reference] == []


def test_every_subpackage_has_an_api_page():
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    missing = [p for p in packages if f"::: wsiseg.{p}\n" not in _read(DOCS / "api" / f"{p}.md")]
    assert missing == []


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    nav = nav_pages(mkdocs_nav())
    assert [p for p in pages if p not in nav] == []
    assert [p for p in nav if p not in pages] == []


def test_the_readme_is_short_and_links_the_docs_pages_that_exist():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, len(lines)
    links = readme_links()
    assert [link for link in links if not (REPO / link).is_file()] == []
    top_pages = sorted(f"docs/{p.name}" for p in DOCS.glob("*.md")) + ["docs/api/index.md"]
    assert [page for page in top_pages if page not in links] == []
