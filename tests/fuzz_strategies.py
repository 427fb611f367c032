"""The fuzz tests' hypothesis strategies: messages, frames and probes, hostile and random.

Each ``*_probes`` strategy draws ``Probe``s (fuzz_oracle.py) for one family of input; ``any_probes``
mixes them all.
"""

from __future__ import annotations

from typing import Any

import attrs
from fuzz_oracle import (
    ACTIONS,
    CHANNELS,
    MAX_MESSAGE_SIZE,
    Probe,
    dumps,
    frame_probe,
)
from hypothesis import strategies as st

from trio_socketapi.testing import client_frame

# --- Strategies -------------------------------------------------------------------------------

huge_ints = st.builds(
    lambda digits, sign: sign * int("9" * digits),
    st.integers(min_value=19, max_value=4000),
    st.sampled_from([1, -1]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    huge_ints,
    st.floats(),  # NaN, Infinity and -Infinity included, written as bare tokens
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


deep_values = st.integers(min_value=150, max_value=260).map(nested)
# Real types and names twice over, so that half the envelopes get past the envelope checks.
real_types = st.sampled_from(["action", "subscribe", "unsubscribe", "publish"])
message_types = st.one_of(real_types, real_types, st.text(max_size=10), json_values)
real_names = st.sampled_from([*ACTIONS, *CHANNELS])
channels = st.one_of(real_names, real_names, st.text(max_size=10), json_values)
ids = st.one_of(
    st.integers(),
    huge_ints,
    st.text(max_size=6),
    st.booleans(),
    st.floats(),
    st.dictionaries(st.text(max_size=3), json_scalars, max_size=2),
    st.lists(json_scalars, max_size=2),
)
datas = st.one_of(json_values, deep_values)
envelopes = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "type": message_types,
            "channel": channels,
            "data": datas,
            "id": ids,
            "token": json_scalars,
        },
    ),
    st.fixed_dictionaries(
        {"type": message_types, "channel": channels},
        optional={"data": datas, "id": ids},
    ),
)


def int_like() -> st.SearchStrategy[Any]:
    """Values an ``int`` parameter may receive: ints, numeric strings, floats, anything."""
    return st.one_of(
        st.integers(),
        huge_ints,
        st.integers(min_value=-1000, max_value=1000).map(str),
        st.floats(),
        st.booleans(),
        json_values,
    )


def str_like() -> st.SearchStrategy[Any]:
    return st.one_of(st.text(max_size=12), st.integers(), json_values)


def list_of_int_like() -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(st.integers(), max_size=5), st.lists(int_like(), max_size=3))


items = st.one_of(
    st.fixed_dictionaries(
        {"name": str_like()},
        optional={
            "qty": int_like(),
            "price": st.floats(),
            "tags": st.one_of(st.lists(st.text(max_size=4), max_size=3), json_values),
        },
    ),
    json_values,
)


def parameters(
    required: dict[str, st.SearchStrategy[Any]],
    optional: dict[str, st.SearchStrategy[Any]],
    wild: dict[str, st.SearchStrategy[Any]],
) -> st.SearchStrategy[Any]:
    """``data`` for one handler: well-typed two times in three, else any key may be anything."""
    well_typed = st.fixed_dictionaries(required, optional=optional)
    return st.one_of(well_typed, well_typed, st.fixed_dictionaries({}, optional=wild))


good_ints = st.one_of(st.integers(), huge_ints)
good_items = st.fixed_dictionaries(
    {"name": st.text(max_size=8)},
    optional={
        "qty": st.integers(),
        "price": st.floats(),
        "tags": st.lists(st.text(max_size=4), max_size=3),
    },
)
typed_data: dict[str, st.SearchStrategy[Any]] = {
    "add": parameters({"a": good_ints, "b": good_ints}, {}, {"a": int_like(), "b": int_like()}),
    "echo": parameters({}, {"value": datas}, {"value": datas}),
    "count": parameters(
        {"xs": st.lists(st.integers(), max_size=5)}, {}, {"xs": list_of_int_like()}
    ),
    "greet": parameters(
        {"name": st.text(max_size=8)},
        {"punctuation": st.text(max_size=2)},
        {"name": str_like(), "punctuation": str_like()},
    ),
    "typed": parameters(
        {
            "n": good_ints,
            "s": st.text(max_size=8),
            "xs": st.lists(good_ints, max_size=4),
            "item": good_items,
        },
        {"maybe": st.one_of(st.none(), st.integers()), "d": st.integers()},
        {
            "n": int_like(),
            "s": str_like(),
            "xs": list_of_int_like(),
            "item": items,
            "maybe": st.one_of(st.none(), int_like()),
            "d": int_like(),
        },
    ),
    "boom": parameters({}, {}, {"x": json_values}),
    "news": parameters({}, {"text": st.text(max_size=8)}, {"text": str_like()}),
    "room": parameters(
        {"room": st.sampled_from(["a", "b"])},
        {"message": st.text(max_size=8)},
        {"room": str_like(), "message": str_like()},
    ),
}


KNOWN = frozenset({"subscribe", "unsubscribe", "publish"})


@st.composite
def typed_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed envelope whose ``data`` is random against a real handler's parameters."""
    message_type = draw(st.sampled_from(["action", "action", *sorted(KNOWN)]))
    channel = draw(st.sampled_from(sorted(ACTIONS if message_type == "action" else CHANNELS)))
    message: dict[str, Any] = {"type": message_type, "channel": channel}
    data = draw(st.one_of(typed_data[channel], st.none(), json_values))
    if data is not None or draw(st.booleans()):
        message["data"] = data
    if draw(st.booleans()):
        message["id"] = draw(st.one_of(st.integers(), st.text(max_size=4)))
    return message


def as_frame(value: Any, binary: bool) -> Probe:
    text = dumps(value)
    return frame_probe(text.encode("utf-8") if binary else text)


text_probes = st.builds(as_frame, st.one_of(envelopes, json_values), st.booleans())
typed_probes = st.builds(as_frame, typed_messages(), st.booleans())
random_text_probes = st.one_of(
    st.text(max_size=40),
    st.builds(lambda v, junk: dumps(v) + junk, json_values, st.sampled_from([",", "}", "x"])),
    st.sampled_from(["", " ", "NaN", "-Infinity", "{", '{"type":', "[1,]", "{'a': 1}", "nul"]),
    # Out of range for any JSON parser that keeps integers exact.
    st.integers(min_value=4301, max_value=6000).map(lambda n: "1" * n),
    # Surrogate escapes: valid JSON syntax that is not Unicode text.
    st.sampled_from(
        [
            '"\\ud800"',
            '{"type":"action","channel":"echo","data":{"value":"\\udfff"}}',
            '{"type":"\\ud83d","channel":"echo"}',
            '{"type":"action","channel":"echo","data":{"value":"\\ud83d\\ude00"}}',
        ]
    ),
).map(frame_probe)
binary_probes = st.one_of(
    st.binary(max_size=64),
    # Invalid UTF-8 around valid JSON: overlong forms, lone continuation and surrogate bytes.
    st.builds(
        lambda bad: b'{"type":"action","channel":"echo","data":{"value":"' + bad + b'"}}',
        st.sampled_from([b"\xff", b"\xc0\xaf", b"\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]),
    ),
).map(frame_probe)
huge_channel_probes = st.builds(
    lambda size, char, message_type, binary: as_frame(
        {"type": message_type, "channel": char * size}, binary
    ),
    st.integers(min_value=1000, max_value=MAX_MESSAGE_SIZE + 200),
    st.sampled_from(["c", "é", "€", "𝄞"]),
    st.sampled_from(["action", "subscribe", "unsubscribe", "publish"]),
    st.booleans(),
)


@st.composite
def fragmented_probes(draw: st.DrawFn) -> Probe:
    """A message split into fragments (cut anywhere, even inside a UTF-8 character), with pings
    between them: the server answers it as if it had come whole."""
    text = dumps(draw(st.one_of(typed_messages(), envelopes)))
    encoded = text.encode("utf-8")
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(encoded) - 1)), max_size=4)))
    pieces = [encoded[a:b] for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)]
    frames = []
    for index, piece in enumerate(pieces):
        opcode = 0x1 if index == 0 else 0x0  # text, then continuations
        frames.append(client_frame(opcode, piece, fin=index == len(pieces) - 1))
        if index < len(pieces) - 1 and draw(st.booleans()):
            frames.append(client_frame(0x9, draw(st.binary(max_size=125))))  # a ping
    return attrs.evolve(frame_probe(text), raw_frame=b"".join(frames))


any_probes = st.one_of(
    text_probes,
    typed_probes,
    random_text_probes,
    binary_probes,
    huge_channel_probes,
    fragmented_probes(),
)
