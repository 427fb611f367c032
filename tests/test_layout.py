"""The layout rule: the pure modules import nothing that does I/O, however indirectly.

Protocol parsing and encoding, the registry, signatures and the hub are pure functions and data:
no trio, no sockets, no trio-websocket. Imports needed only for type checking do not count.
The package's ``__init__`` imports everything, so this reads the source instead of importing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "trio_socketapi"
PURE = ["_protocol", "_registry", "_signature", "_hub"]
IO = {"trio", "trio_websocket", "wsproto", "socket", "ssl", "select", "asyncio", "coredis"}


def runtime_imports(module: str) -> set[str]:
    """What ``module`` imports when it runs (``TYPE_CHECKING`` blocks left out); package
    modules as ``_name``, others by their top-level name."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    names.add(node.module or "")
                else:
                    names.add((node.module or "").split(".")[0])
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)

    visit(tree.body)
    return names


def closure(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        for name in runtime_imports(current):
            if name.startswith("_") and (PACKAGE / f"{name}.py").exists() and name not in seen:
                seen.add(name)
                todo.append(name)
            elif not name.startswith("_"):
                seen.add(name)
    return seen


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_imports_nothing_that_does_io(module: str) -> None:
    assert closure(module) & IO == set()


def test_the_check_sees_io_where_there_is_some() -> None:
    assert {"trio", "trio_websocket"} <= closure("_session")
