"""The README and ``docs/`` say only what runs: their code, their settings table and their links.

A ``python`` block whose first line is a file name comment (``# app.py``) claims to be a file you
can save and run. Each page's such files are written side by side into a fresh directory; the
``test_*.py`` among them are run there with pytest (every test must pass) and the others are
imported. Every other ``python`` block is a fragment and must at least compile.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import attrs
import pytest
import trio

from trio_socketapi import Settings

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PAGE_IDS = [str(page.relative_to(ROOT)) for page in PAGES]

FILE_NAME = re.compile(r"# ([\w/]+\.py)\n")
TEST_FUNCTION = re.compile(r"^(?:async )?def test_", flags=re.MULTILINE)


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.DOTALL | re.MULTILINE)


def file_blocks(page: Path) -> dict[str, str]:
    """The page's blocks that name a file, by file name (a name used twice is an error)."""
    files: dict[str, str] = {}
    for block in python_blocks(page):
        named = FILE_NAME.match(block)
        if named:
            assert named[1] not in files, f"{page.name} has two blocks named {named[1]}"
            files[named[1]] = block
    return files


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_python_block_compiles(page: Path) -> None:
    for number, block in enumerate(python_blocks(page), start=1):
        compile(block, f"{page.name} python block {number}", "exec")


RUNNABLE = [page for page in PAGES if file_blocks(page)]


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE])
async def test_the_files_a_page_shows_run_and_their_tests_pass(page: Path, tmp_path: Path) -> None:
    files = file_blocks(page)
    for name, code in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(code)
    tests = [name for name in files if Path(name).name.startswith("test_")]
    modules = [name[:-3].replace("/", ".") for name in files if name not in tests]
    with trio.fail_after(120):
        if modules:
            imports = "; ".join(f"import {module}" for module in modules)
            result = await trio.run_process(
                [sys.executable, "-c", imports], cwd=tmp_path, capture_stderr=True, check=False
            )
            assert result.returncode == 0, result.stderr.decode()
        if tests:
            (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not this repository's config
            expected = sum(len(TEST_FUNCTION.findall(files[name])) for name in tests)
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
            result = await trio.run_process(command, cwd=tmp_path, capture_stdout=True, check=False)
            output = result.stdout.decode()
            assert result.returncode == 0, output
            assert f"{expected} passed" in output, output


def test_the_readme_quick_start_has_its_app_and_its_tests() -> None:
    assert {"app.py", "test_app.py"} <= file_blocks(ROOT / "README.md").keys()


# --- the settings table -------------------------------------------------------------------------


def test_the_settings_table_documents_every_field_of_settings_and_nothing_else() -> None:
    page = (ROOT / "docs" / "production.md").read_text()
    section = page.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)
    fields = [field.name for field in attrs.fields(Settings)]
    assert len(rows) == len(set(rows)), f"a setting has two rows: {rows}"
    assert set(fields) - set(rows) == set(), "add these to docs/production.md's settings table"
    assert set(rows) - set(fields) == set(), "these rows name no field of Settings"


# --- links --------------------------------------------------------------------------------------


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.DOTALL | re.MULTILINE)
    return {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_relative_link_points_at_a_file_and_heading_that_exist(page: Path) -> None:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.DOTALL | re.MULTILINE)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}, which does not exist"
        if fragment and linked.suffix == ".md":
            assert fragment in _anchors(linked), f"{page.name} links to a missing {target}"


def test_the_anchor_of_a_heading_is_githubs() -> None:
    assert _anchor("Origin check (on by default)") == "origin-check-on-by-default"
    assert _anchor("How trio_socketapi differs from socketapi") == (
        "how-trio_socketapi-differs-from-socketapi"
    )
