"""Every Python block in README.md and docs/ runs, page by page, in one namespace per page."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
# Pages that are generated (the reference, from docstrings) or included (the
# changelog) hold no examples of their own.
WITHOUT_EXAMPLES = {"reference.md", "changelog.md"}
PAGES = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in WITHOUT_EXAMPLES),
]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """The page's ```python blocks with the line each starts on."""
    text = page.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


async def run_blocks(page: Path, namespace: dict[str, Any]) -> None:
    """Run the blocks in order; top-level `await` is allowed, as in an async REPL."""
    for line, source in python_blocks(page):
        padded = "\n" * (line - 1) + source
        code = compile(padded, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            await result


def test_every_page_has_examples() -> None:
    """README and each docs page hold at least one Python example (the parser sees them)."""
    assert len(PAGES) >= 4
    for page in PAGES:
        assert python_blocks(page), f"{page.name} has no ```python block"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_examples_run(page: Path) -> None:
    """The page's examples run without error; a FastAPI `app` they define also starts and stops."""
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    with warnings.catch_warnings():
        # The migration page shows fastapi-utils code as it is written today.
        warnings.filterwarnings("ignore", r"\s*on_event is deprecated", DeprecationWarning)
        asyncio.run(run_blocks(page, namespace))
        app = namespace.get("app")
        if isinstance(app, FastAPI):
            with TestClient(app):
                pass


def test_the_schedules_picture_matches_the_library() -> None:
    """docs/schedules.svg is what docs/timeline.py draws from real runs today."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("timeline", ROOT / "docs" / "timeline.py")
    assert spec is not None
    assert spec.loader is not None
    timeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timeline)
    assert (ROOT / "docs" / "schedules.svg").read_text() == timeline.render()


def test_the_docs_build_refuses_an_undocumented_public_name(tmp_path: Path) -> None:
    """The build's hook finds a public method without docstring and a name without version."""
    import importlib.util
    import shutil

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    docs_hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs_hooks)
    assert docs_hooks.problems() == []
    shutil.copytree(ROOT / "repeating", tmp_path / "repeating")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    task = tmp_path / "repeating" / "_task.py"
    source = task.read_text()
    # Drop stop()'s docstring, and the version note of the class's.
    start = source.index('"""Let no new run start. Idempotent.')
    end = source.index('"""', start + 3) + 3
    source = source[:start] + "pass" + source[end:]
    source = source.replace("\n\n    Added in version 0.1.\n", "\n", 1)
    task.write_text(source)
    found = docs_hooks.problems(tmp_path)
    assert found == [
        "repeating.RepeatedTask: the docstring does not say 'Added in version X.Y'",
        "repeating.RepeatedTask.stop: no docstring",
    ]
