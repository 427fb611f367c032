"""The hub on its own: subscriptions and fan-out against fake subscribers, no server, no I/O.

A ``FakeSubscriber`` (tests/fakes.py) records the frames it is handed; they are read back as the
client would parse them. What the end-to-end tests cannot see is checked here too: one encoding per
broadcast shared by every subscriber, and nothing left behind once the last one is gone.
"""

from __future__ import annotations

import pytest
from fakes import FakeSubscriber
from helpers import data_frame

from trio_socketapi._counters import Counters
from trio_socketapi._hub import Hub, Subscriber, key_of


@pytest.fixture
def counters() -> Counters:
    return Counters()


@pytest.fixture
def hub(counters: Counters) -> Hub:
    return Hub(counters)


def test_a_fake_subscriber_is_a_subscriber() -> None:
    subscriber: Subscriber = FakeSubscriber("a")  # mypy checks the Protocol here
    assert subscriber.deliver(b"\x81\x02{}") is None


def test_a_broadcast_reaches_every_subscriber_of_the_channel_once(hub: Hub) -> None:
    a, b, elsewhere = FakeSubscriber("a"), FakeSubscriber("b"), FakeSubscriber("elsewhere")
    hub.subscribe(a, "news", {})
    hub.subscribe(b, "news", {})
    hub.subscribe(elsewhere, "sport", {})
    assert hub.publish("news", {}, 0, b'"hi"') == 2
    assert a.received() == b.received() == [data_frame("news", "hi")]
    assert elsewhere.frames == []


def test_a_broadcast_is_encoded_once_for_all_its_subscribers(hub: Hub) -> None:
    subscribers = [FakeSubscriber(str(n)) for n in range(5)]
    for subscriber in subscribers:
        hub.subscribe(subscriber, "news", {})
    hub.publish("news", {}, 0, b"1")
    first = subscribers[0].frames[0]
    assert all(s.frames[0] is first for s in subscribers)


def test_no_data_json_means_a_frame_without_data(hub: Hub) -> None:
    a = FakeSubscriber("a")
    hub.subscribe(a, "ping", {})
    hub.publish("ping", {}, 0, None)
    assert a.received() == [{"type": "data", "channel": "ping"}]


def test_a_channel_nobody_subscribed_to_delivers_nothing(hub: Hub) -> None:
    assert hub.publish("news", {}, 0, b"1") == 0


ROOMS = [({"room": "a"}, "in_a"), ({"room": "b"}, "in_b")]


@pytest.mark.parametrize(
    ("key", "key_size", "reached"),
    [
        pytest.param({"room": "a", "lang": "en"}, 2, {"a_en"}, id="whole-key-one-group"),
        pytest.param({"room": "a"}, 2, {"a_en", "a_fr"}, id="part-of-the-key-every-match"),
        pytest.param({"lang": "fr"}, 2, {"a_fr", "b_fr"}, id="another-part"),
        pytest.param({}, 2, {"a_en", "a_fr", "b_fr"}, id="no-key-everyone"),
        pytest.param({"room": "z", "lang": "en"}, 2, set(), id="a-key-nobody-holds"),
    ],
)
def test_a_broadcast_reaches_the_key_groups_that_agree_with_what_it_names(
    hub: Hub, key: dict[str, str], key_size: int, reached: set[str]
) -> None:
    subscribers = {
        "a_en": ({"room": "a", "lang": "en"}, FakeSubscriber("a_en")),
        "a_fr": ({"room": "a", "lang": "fr"}, FakeSubscriber("a_fr")),
        "b_fr": ({"room": "b", "lang": "fr"}, FakeSubscriber("b_fr")),
    }
    for params, subscriber in subscribers.values():
        hub.subscribe(subscriber, "chat", params)
    assert hub.publish("chat", key, key_size, b'"m"') == len(reached)
    got = {name for name, (_, subscriber) in subscribers.items() if subscriber.frames}
    assert got == reached


def test_extended_subscribers_get_their_key_as_params_and_plain_ones_do_not(hub: Hub) -> None:
    plain, extended = FakeSubscriber("plain"), FakeSubscriber("extended")
    hub.subscribe(plain, "chat", {"room": "a"})
    hub.subscribe(extended, "chat", {"room": "a"}, extended=True)
    assert hub.publish("chat", {"room": "a"}, 1, b'"m"') == 2
    assert plain.received() == [data_frame("chat", "m")]
    assert extended.received() == [data_frame("chat", "m", params={"room": "a"})]


def test_without_a_key_the_extended_frame_is_the_plain_one(hub: Hub) -> None:
    plain, extended = FakeSubscriber("plain"), FakeSubscriber("extended")
    hub.subscribe(plain, "news", {})
    hub.subscribe(extended, "news", {}, extended=True)
    hub.publish("news", {}, 0, b"1")
    assert extended.frames[0] is plain.frames[0]


def test_subscribing_twice_with_one_key_is_one_subscription_in_the_latest_mode(
    hub: Hub, counters: Counters
) -> None:
    a = FakeSubscriber("a")
    hub.subscribe(a, "chat", {"room": "a"})
    hub.subscribe(a, "chat", {"room": "a"}, extended=True)
    assert (hub.subscription_count(a), hub.subscriber_count("chat")) == (1, 1)
    assert counters.subscriptions == 1
    assert hub.publish("chat", {"room": "a"}, 1, b"1") == 1
    assert a.received() == [data_frame("chat", 1, params={"room": "a"})]


def test_unsubscribe_with_a_key_removes_that_subscription_only(
    hub: Hub, counters: Counters
) -> None:
    a = FakeSubscriber("a")
    hub.subscribe(a, "chat", {"room": "a"})
    hub.subscribe(a, "chat", {"room": "b"})
    hub.unsubscribe(a, "chat", {"room": "a"})
    assert (hub.subscription_count(a), counters.subscriptions) == (1, 1)
    hub.publish("chat", {}, 1, b"1")
    assert len(a.frames) == 1


def test_unsubscribe_without_a_key_removes_every_subscription_of_that_channel(
    hub: Hub, counters: Counters
) -> None:
    a = FakeSubscriber("a")
    hub.subscribe(a, "chat", {"room": "a"})
    hub.subscribe(a, "chat", {"room": "b"})
    hub.subscribe(a, "news", {})
    hub.unsubscribe(a, "chat", None)
    assert (hub.subscriber_count("chat"), hub.subscriber_count("news")) == (0, 1)
    assert counters.subscriptions == 1


def test_unsubscribing_what_is_not_held_changes_nothing(hub: Hub, counters: Counters) -> None:
    a, b = FakeSubscriber("a"), FakeSubscriber("b")
    hub.unsubscribe(a, "chat", None)  # holds nothing at all
    hub.subscribe(a, "chat", {"room": "a"})
    hub.unsubscribe(a, "chat", {"room": "zzz"})
    hub.unsubscribe(a, "other", None)
    hub.unsubscribe(b, "chat", {"room": "a"})
    assert (hub.subscription_count(a), counters.subscriptions) == (1, 1)


def test_remove_forgets_a_closed_subscriber_and_leaves_nothing_behind(
    hub: Hub, counters: Counters
) -> None:
    a, b = FakeSubscriber("a"), FakeSubscriber("b")
    hub.subscribe(a, "chat", {"room": "a"})
    hub.subscribe(a, "news", {}, extended=True)
    hub.subscribe(b, "chat", {"room": "a"})
    hub.remove(a)
    assert (hub.subscription_count(a), hub.subscriber_count("chat")) == (0, 1)
    hub.remove(b)
    assert counters.subscriptions == 0
    assert hub._channels == {} and hub._by_subscriber == {}  # no empty groups kept


def test_a_subscriber_that_leaves_while_being_delivered_to_does_not_stop_the_fan_out(
    hub: Hub,
) -> None:
    # A slow consumer is closed inside deliver(), which removes it from the hub mid-loop.
    subscribers = [FakeSubscriber(str(n)) for n in range(3)]
    for subscriber in subscribers:
        hub.subscribe(subscriber, "news", {})
    subscribers[0].on_deliver = lambda: hub.remove(subscribers[0])
    assert hub.publish("news", {}, 0, b"1") == 3
    assert all(len(s.frames) == 1 for s in subscribers)
    assert hub.publish("news", {}, 0, b"2") == 2


def test_a_held_subscription_keeps_its_frames_until_released(hub: Hub) -> None:
    held, live = FakeSubscriber("held"), FakeSubscriber("live")
    key = key_of({"room": "a"})
    hub.subscribe(held, "chat", {"room": "a"}, hold=True)
    hub.subscribe(live, "chat", {"room": "a"}, extended=True)
    hub.publish("chat", {"room": "a"}, 1, b'"m"', positions={key: (7, "e1")})
    assert held.frames == []
    position = {"params": {"room": "a"}, "offset": 7, "epoch": "e1"}
    assert live.received() == [data_frame("chat", "m", **position)]
    kept = hub.release(held, "chat", key, ("e1", 6))
    assert [(offset, epoch) for offset, epoch, _ in kept] == [(7, "e1")]
    assert kept[0][2] == live.frames[0]
    hub.publish("chat", {"room": "a"}, 1, b'"n"', positions={key: (8, "e1")})
    assert held.received()[-1]["offset"] == 8  # released: delivered as an extended one


def test_a_released_subscription_skips_a_late_live_copy_of_what_its_replay_reached(
    hub: Hub,
) -> None:
    # On Redis the pub/sub copy of a publication can arrive after the replay that sent it.
    late, other = FakeSubscriber("late"), FakeSubscriber("other")
    key = key_of({"room": "a"})
    hub.subscribe(other, "chat", {"room": "a"}, extended=True)
    hub.subscribe(late, "chat", {"room": "a"}, hold=True)
    assert hub.release(late, "chat", key, ("e1", 3)) == []
    for offset in (2, 3, 4):
        hub.publish("chat", {"room": "a"}, 1, b'"m"', positions={key: (offset, "e1")})
    assert [frame["offset"] for frame in late.received()] == [4]
    assert [frame["offset"] for frame in other.received()] == [2, 3, 4]
    hub.publish("chat", {"room": "a"}, 1, b'"m"', positions={key: (1, "e2")})  # a new epoch
    assert [frame["offset"] for frame in late.received()] == [4, 1]


def test_release_of_a_subscription_no_longer_held_returns_nothing(hub: Hub) -> None:
    a = FakeSubscriber("a")
    key = key_of({"room": "a"})
    assert hub.release(a, "chat", key, ("e1", 0)) == []
    hub.subscribe(a, "chat", {"room": "a"}, hold=True)
    hub.unsubscribe(a, "chat", {"room": "a"})
    assert hub.release(a, "chat", key, ("e1", 0)) == []


def test_a_recorded_broadcast_reaches_only_the_streams_it_names(hub: Hub) -> None:
    in_a, in_b, plain_a = FakeSubscriber("in_a"), FakeSubscriber("in_b"), FakeSubscriber("p")
    hub.subscribe(in_a, "chat", {"room": "a"}, extended=True)
    hub.subscribe(in_b, "chat", {"room": "b"}, extended=True)
    hub.subscribe(plain_a, "chat", {"room": "a"})
    positions = {key_of({"room": "a"}): (3, "e"), key_of({"room": "zzz"}): (1, "e")}
    assert hub.publish("chat", {}, 1, b"1", positions=positions) == 2
    assert in_a.received() == [data_frame("chat", 1, params={"room": "a"}, offset=3, epoch="e")]
    assert plain_a.received() == [data_frame("chat", 1)]  # socketapi's frame, no position
    assert in_b.frames == []


def test_notify_reaches_the_extended_subscribers_of_one_key_group(hub: Hub) -> None:
    plain, extended, other = FakeSubscriber("p"), FakeSubscriber("e"), FakeSubscriber("o")
    hub.subscribe(plain, "chat", {"room": "a"})
    hub.subscribe(extended, "chat", {"room": "a"}, extended=True)
    hub.subscribe(other, "chat", {"room": "b"}, extended=True)
    assert hub.notify("chat", {"room": "a"}, b"\x81\x02{}") == 1
    assert extended.frames == [b"\x81\x02{}"] and plain.frames == other.frames == []
    assert hub.notify("chat", {"room": "zzz"}, b"\x81\x02{}") == 0


def test_a_key_is_its_json_so_equal_values_of_any_type_match(hub: Hub) -> None:
    assert key_of({}) == b""
    assert key_of({"user": 7}) == key_of({"user": 7}) != key_of({"user": "7"})
    a = FakeSubscriber("a")
    hub.subscribe(a, "scores", {"league": "west", "teams": [1, 2]})
    assert hub.publish("scores", {"league": "west", "teams": [1, 2]}, 2, b"1") == 1
