"""The markers a handler's annotations carry: ``RequiredOnSubscribe`` and ``Depends``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, final

import attrs


@final
class _RequiredOnSubscribe:
    """Marks a channel parameter as part of the subscription key."""

    _instance: _RequiredOnSubscribe | None = None

    def __new__(cls) -> _RequiredOnSubscribe:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "RequiredOnSubscribe"


RequiredOnSubscribe: Final = _RequiredOnSubscribe()
"""Annotate a channel parameter with this (``Annotated[int, RequiredOnSubscribe]``) to require it
on ``subscribe`` and to scope broadcasts by its value."""


@attrs.frozen
class Depends:
    """Inject ``dependency``'s result into a parameter; the client nests its arguments."""

    dependency: Callable[..., Any]
