"""``WebSocketProtocol``, the sans-I/O layer a session reads through, fed client bytes directly.

The end-to-end behaviour (replies, close codes on the wire) is covered through real sockets in
test_fuzz.py, test_testing.py and test_limits.py; these pin down what the session relies on
from one ``receive`` call: every complete message of a burst at once, fragments assembled
across reads, the size limit in UTF-8 bytes, and how the client's side ended.
"""

from __future__ import annotations

import struct

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.frame_protocol import Opcode

from trio_socketapi._websocket import BUFFERED_FRAME, MAX_CLOSE_REASON, Ending, WebSocketProtocol
from trio_socketapi.testing import client_frame

TEXT, BINARY, CONTINUATION = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION
CLOSE, PING, PONG = Opcode.CLOSE, Opcode.PING, Opcode.PONG


def open_protocol(max_message_size: int = 64) -> WebSocketProtocol:
    return WebSocketProtocol(Connection(ConnectionType.SERVER), max_message_size=max_message_size)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


def parse_server_frame(frame: bytes) -> tuple[int, bytes]:
    """Opcode and payload of one short unmasked server frame."""
    assert frame[1] < 126, "only short frames here"
    return frame[0] & 0x0F, frame[2 : 2 + frame[1]]


def test_every_message_of_one_read_is_ready_at_once_in_order() -> None:
    protocol = open_protocol()
    burst = b"".join(client_frame(TEXT, f"m{n}".encode()) for n in range(3))
    protocol.receive(burst + client_frame(BINARY, b"\x00\xff"))
    assert list(protocol.messages) == ["m0", "m1", "m2", b"\x00\xff"]
    assert protocol.ending is None


def test_a_message_cut_anywhere_across_reads_arrives_once_whole() -> None:
    protocol = open_protocol()
    stream = client_frame(TEXT, "héllo".encode())
    for index in range(len(stream)):
        protocol.receive(stream[index : index + 1])
    assert list(protocol.messages) == ["héllo"]


def test_fragments_are_joined_and_a_ping_between_them_gets_its_pong() -> None:
    protocol = open_protocol()
    protocol.receive(client_frame(TEXT, b"ab", fin=False))
    protocol.receive(client_frame(PING, b"between"))
    assert not protocol.messages
    protocol.receive(client_frame(CONTINUATION, b"cd", fin=False))
    protocol.receive(client_frame(CONTINUATION, b"ef"))
    assert list(protocol.messages) == ["abcdef"]
    assert [parse_server_frame(reply) for reply in protocol.replies] == [(PONG, b"between")]


def test_a_pong_payload_is_reported_for_the_keepalive() -> None:
    protocol = open_protocol()
    protocol.receive(client_frame(PONG, b"7"))
    assert protocol.pongs == [b"7"] and not protocol.messages


@pytest.mark.parametrize("fragmented", [False, True], ids=["whole", "fragmented"])
def test_the_size_limit_counts_utf8_bytes_not_characters(fragmented: bool) -> None:
    protocol = open_protocol(max_message_size=64)
    fits, over = "é" * 32, "é" * 33  # 64 and 66 bytes, but only 32 and 33 characters
    for text in (fits, over):
        data = text.encode()
        if fragmented:
            protocol.receive(client_frame(TEXT, data[:10], fin=False))
            protocol.receive(client_frame(CONTINUATION, data[10:]))
        else:
            protocol.receive(client_frame(TEXT, data))
    assert list(protocol.messages) == [fits]
    assert protocol.ending is Ending.TOO_BIG


def test_a_binary_message_over_the_limit_ends_reading_and_nothing_after_it_is_parsed() -> None:
    protocol = open_protocol(max_message_size=8)
    protocol.receive(client_frame(BINARY, bytes(9)) + client_frame(TEXT, b"later"))
    assert protocol.ending is Ending.TOO_BIG and not protocol.messages
    protocol.receive(client_frame(TEXT, b"after"))
    assert not protocol.messages


def test_fragments_over_the_limit_end_reading_before_the_message_is_finished() -> None:
    protocol = open_protocol(max_message_size=8)
    protocol.receive(client_frame(BINARY, bytes(5), fin=False))
    assert protocol.ending is None
    protocol.receive(client_frame(CONTINUATION, bytes(5), fin=False))
    assert protocol.ending is Ending.TOO_BIG


def test_messages_before_a_client_close_are_kept_and_the_close_is_echoed() -> None:
    protocol = open_protocol()
    protocol.receive(client_frame(TEXT, b"last words") + client_frame(CLOSE, close_payload(1000)))
    assert list(protocol.messages) == ["last words"]
    assert protocol.ending is Ending.CLIENT_CLOSED and protocol.close_received == 1000
    assert not protocol.framing_lost
    frame = protocol.closing_frame(1001, "ignored: the client closed first")
    assert frame is not None
    assert parse_server_frame(frame) == (CLOSE, close_payload(1000))


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(client_frame(0x3, b"x"), 1002, id="reserved-opcode"),
        pytest.param(client_frame(TEXT, b"x", masked=False), 1002, id="unmasked"),
        pytest.param(client_frame(TEXT, b"\xff"), 1007, id="invalid-utf8"),
        pytest.param(client_frame(CONTINUATION, b"x"), 1002, id="continuation-first"),
    ],
)
def test_a_violation_ends_reading_and_the_server_closes_with_its_code(
    frame: bytes, code: int
) -> None:
    protocol = open_protocol()
    protocol.receive(client_frame(TEXT, b"before") + frame)
    assert list(protocol.messages) == ["before"]
    assert protocol.ending is Ending.VIOLATION and protocol.framing_lost
    assert protocol.violation is not None and protocol.violation[0] == code
    closing = protocol.closing_frame(*protocol.violation)
    assert closing is not None and parse_server_frame(closing)[1][:2] == struct.pack("!H", code)


def test_the_servers_close_reason_is_cut_to_fit_a_frame_without_splitting_a_character() -> None:
    protocol = open_protocol()
    frame = protocol.closing_frame(1008, "é" * 100)  # 200 bytes
    assert frame is not None
    opcode, payload = parse_server_frame(frame)
    reason = payload[2:].decode()  # still valid UTF-8
    assert opcode == CLOSE and payload[:2] == struct.pack("!H", 1008)
    assert reason == "é" * (MAX_CLOSE_REASON // 2)


def test_only_one_close_frame_is_ever_produced() -> None:
    protocol = open_protocol()
    assert protocol.closing_frame(1001, None) is not None
    assert protocol.closing_frame(1001, None) is None
    assert open_protocol().closing_frame(None, None) is None  # the client just left


def test_a_ping_frame_carries_its_payload() -> None:
    assert parse_server_frame(open_protocol().ping_frame(b"42")) == (PING, b"42")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_every_length_encoding_is_unmasked_to_the_same_payload(size: int) -> None:
    protocol = open_protocol(max_message_size=1 << 20)
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    stream = client_frame(BINARY, payload) + client_frame(TEXT, b"next")
    protocol.receive(stream[:70_000])
    protocol.receive(stream[70_000:])
    assert list(protocol.messages) == [payload, "next"]


def test_a_length_in_more_bytes_than_needed_is_a_violation() -> None:
    protocol = open_protocol()
    padded = bytes([0x81, 0x80 | 126, 0, 5]) + bytes(4) + b"hello"  # 5 in a 16-bit length
    protocol.receive(padded)
    assert protocol.ending is Ending.VIOLATION and not protocol.messages


def test_a_new_message_inside_a_fragmented_one_is_a_violation() -> None:
    protocol = open_protocol()
    protocol.receive(client_frame(TEXT, b"part", fin=False) + client_frame(TEXT, b"whole"))
    assert protocol.ending is Ending.VIOLATION and not protocol.messages


def test_a_long_fragment_streams_through_with_a_ping_in_the_next_read() -> None:
    protocol = open_protocol(max_message_size=1 << 20)
    first = client_frame(BINARY, bytes(50_000), fin=False)
    protocol.receive(first[:1000])
    protocol.receive(first[1000:] + client_frame(PING, b"p"))
    protocol.receive(client_frame(CONTINUATION, b"end"))
    assert list(protocol.messages) == [bytes(50_000) + b"end"]
    assert [parse_server_frame(reply) for reply in protocol.replies] == [(PONG, b"p")]


def test_after_the_servers_close_discard_skips_to_the_clients_close_frame() -> None:
    protocol = open_protocol()
    assert protocol.closing_frame(1001, None) is not None
    stream = client_frame(TEXT, b"still talking") + client_frame(CLOSE, close_payload(1000, "ok"))
    assert not protocol.discard(stream[:5])
    assert protocol.discard(stream[5:])
    assert protocol.close_received == 1000


def test_discard_skips_the_rest_of_a_message_that_was_over_the_limit() -> None:
    protocol = open_protocol(max_message_size=100)
    # The payload holds bytes that would read as a close frame if the splitter lost its place.
    huge = client_frame(BINARY, client_frame(CLOSE, close_payload(4000)) * 1000, mask=bytes(4))
    protocol.receive(huge[:3000])
    assert protocol.ending is Ending.TOO_BIG
    assert not protocol.discard(huge[3000:])
    assert protocol.close_received is None
    assert protocol.discard(client_frame(CLOSE, close_payload(1009)))
    assert protocol.close_received == 1009


def test_a_long_frame_trickling_in_is_assembled_without_buffering_it_again_and_again() -> None:
    protocol = open_protocol(max_message_size=1 << 20)
    text = "ü€x" * 20_000  # 120,000 bytes, characters cut across the pieces below
    stream = client_frame(TEXT, text.encode()) + client_frame(TEXT, b"next")
    for start in range(0, len(stream), 997):
        protocol.receive(stream[start : start + 997])
        # A long frame goes to wsproto piece by piece: re-joining all of it on every read would
        # make a client sending one byte at a time cost the server quadratic time.
        assert len(protocol._pending) <= BUFFERED_FRAME + 14
    assert list(protocol.messages) == [text, "next"]


def test_invalid_utf8_in_a_long_frame_is_still_a_violation() -> None:
    protocol = open_protocol(max_message_size=1 << 20)
    stream = client_frame(TEXT, b"a" * 50_000 + b"\xff")
    protocol.receive(stream[:20_000])
    protocol.receive(stream[20_000:])
    assert protocol.ending is Ending.VIOLATION and protocol.violation is not None
    assert protocol.violation[0] == 1007
