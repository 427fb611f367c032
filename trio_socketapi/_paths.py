"""Dynamic channel and action names: ``chat/{room_id}``, ``rooms/{room_id}/join``.

A name is split on ``/`` into segments; a segment that is exactly ``{identifier}`` is a path
parameter, any other segment is literal text (a brace anywhere else is refused, so a typo such as
``chat/{room_id`` is an error, not a literal name). A parameter's value is one whole, non-empty
segment: it never contains ``/``.

Two patterns *overlap* when some name matches both: same number of segments, and at every
position a parameter on either side or equal literals. Overlapping patterns are refused at
registration, so a name matches at most one pattern and the order handlers were registered in
never decides anything. A literal name always wins over a pattern (it is found by the
dictionary lookup that comes first).

Pure functions and a frozen class; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
import pydantic_core

_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@attrs.frozen
class PathPattern:
    """A name with path parameters, e.g. ``chat/{room_id}``."""

    template: str
    segments: tuple[str | None, ...]
    """Each segment's literal text, or ``None`` for a parameter."""
    params: tuple[str, ...]
    """The parameter names, in order."""

    def match(self, name: str) -> dict[str, str] | None:
        """The parameter values if ``name`` matches, else ``None``."""
        parts = name.split("/")
        if len(parts) != len(self.segments):
            return None
        values: dict[str, str] = {}
        names = iter(self.params)
        for part, literal in zip(parts, self.segments, strict=True):
            if literal is None:
                if not part:
                    return None
                values[next(names)] = part
            elif part != literal:
                return None
        return values

    def format(self, values: Mapping[str, Any]) -> str:
        """The concrete name for ``values`` (validated parameter values, by name).

        Raises ``ValueError`` if a value is missing, empty, or contains ``/``.
        """
        names = iter(self.params)
        parts = []
        for literal in self.segments:
            if literal is not None:
                parts.append(literal)
                continue
            name = next(names)
            if name not in values:
                raise ValueError(f"{self.template!r} needs a value for {name!r}")
            text = segment_text(values[name])
            if not text or "/" in text:
                raise ValueError(
                    f"path parameter {name!r} of {self.template!r} must be non-empty and"
                    f" cannot contain '/', got {text!r}"
                )
            parts.append(text)
        return "/".join(parts)

    def overlaps(self, other: PathPattern) -> bool:
        """Whether some name matches both patterns."""
        if len(self.segments) != len(other.segments):
            return False
        return all(
            a is None or b is None or a == b
            for a, b in zip(self.segments, other.segments, strict=True)
        )


def compile_path(name: str) -> PathPattern | None:
    """The pattern of a name with ``{parameters}``, or ``None`` for a literal name.

    Raises ``ValueError`` for a brace that is not a whole ``{identifier}`` segment, or a
    parameter named twice.
    """
    if "{" not in name and "}" not in name:
        return None
    segments: list[str | None] = []
    params: list[str] = []
    for segment in name.split("/"):
        found = _PARAMETER.fullmatch(segment)
        if found is not None:
            if found[1] in params:
                raise ValueError(f"{name!r} names path parameter {found[1]!r} twice")
            params.append(found[1])
            segments.append(None)
        elif "{" in segment or "}" in segment:
            raise ValueError(
                f"{name!r}: a path parameter is a whole segment like 'chat/{{room_id}}',"
                f" got {segment!r}"
            )
        else:
            segments.append(segment)
    return PathPattern(name, tuple(segments), tuple(params))


def segment_text(value: Any) -> str:
    """A validated parameter value as it appears in a name: strings as they are, anything else
    (numbers, UUIDs, enums) as its JSON text without quotes, so ``42`` and ``"42"`` agree."""
    if isinstance(value, str):
        return value
    text = pydantic_core.to_json(value).decode()
    parsed = pydantic_core.from_json(text)
    return parsed if isinstance(parsed, str) else text
