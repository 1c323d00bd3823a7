"""MkDocs hook: the build fails when a public name is undocumented.

Every public module must be rendered by the API reference, and every name in
its `__all__`, and every public member of those, must have a docstring; the
top-level names must also say in which version they were added.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe
from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = [
    "repeating",
    "repeating.testing",
    "repeating.fastapi",
    "repeating.locks",
    "repeating.redis",
    "repeating.postgres",
]
ADDED = re.compile(r"Added in version \d+\.\d+")


def problems(root: Path = ROOT) -> list[str]:
    """What is undocumented in the checkout at `root`, one line each."""
    package = griffe.load(
        "repeating", search_paths=[str(root)], try_relative_path=False, resolve_aliases=True
    )
    reference = (root / "docs" / "reference.md").read_text()
    found = []
    for path in PUBLIC_MODULES:
        module = package if path == "repeating" else package[path.removeprefix("repeating.")]
        if f"::: {path}\n" not in reference:
            found.append(f"{path}: not rendered in docs/reference.md")
        if not module.docstring:
            found.append(f"{path}: no module docstring")
        for name in module.exports or []:
            if name.startswith("__"):
                continue
            obj = module[name]
            target = obj.final_target if obj.is_alias else obj
            doc = target.docstring.value if target.docstring else ""
            if not doc:
                found.append(f"{path}.{name}: no docstring")
            elif not ADDED.search(doc):
                found.append(f"{path}.{name}: the docstring does not say 'Added in version X.Y'")
            if target.is_class:
                for member_name, member in target.members.items():
                    if member_name.startswith("_"):
                        continue
                    if not member.docstring:
                        found.append(f"{path}.{name}.{member_name}: no docstring")
    return found


def on_pre_build(config: Any) -> None:
    """Stop the build when a public name is undocumented."""
    found = problems()
    if found:
        raise PluginError("undocumented public names:\n  " + "\n  ".join(found))
