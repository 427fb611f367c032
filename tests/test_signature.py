"""Handler signatures are compiled once, when decorated (``compile_signature``).

What the compiled form knows: the client-supplied fields (validated by one pydantic model built
here), the ``Depends`` tree, the ``Connection`` parameters, the ``RequiredOnSubscribe`` keys.
Nothing per message builds a model.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
import pytest

from trio_socketapi import Connection, Depends, RequiredOnSubscribe, SocketAPI
from trio_socketapi._signature import MISSING, InvalidParameters, compile_signature


async def lookup(user_id: int) -> str:
    return f"user-{user_id}"


async def handler(
    conn: Connection,
    room: Annotated[str, RequiredOnSubscribe],
    user: Annotated[str, Depends(lookup)],
    limit: int = 10,
    note: Annotated[str, pydantic.Field(max_length=3)] = "",
) -> None: ...


def test_the_compiled_signature_sorts_parameters_by_role() -> None:
    signature = compile_signature(handler)
    assert signature.func_name == "handler"
    assert signature.is_async
    assert signature.field_names == ("room", "limit", "note")
    assert signature.connection_params == ("conn",)
    assert signature.key_params == ("room",)
    assert [(name, dep.func_name) for name, dep in signature.dependencies] == [("user", "lookup")]


def test_keys_only_keeps_the_subscription_keys_and_the_connection() -> None:
    signature = compile_signature(handler, keys_only=True)
    assert signature.field_names == ("room",)
    assert signature.connection_params == ("conn",)
    assert signature.dependencies == ()


async def test_resolve_validates_coerces_and_injects() -> None:
    connection = Connection(path="/", query_string="", headers={}, remote=None)
    kwargs = await compile_signature(handler).resolve(
        {"room": "a", "user": {"user_id": "3"}, "limit": "5"}, connection
    )
    assert kwargs == {"room": "a", "limit": 5, "note": "", "user": "user-3", "conn": connection}


def test_extra_pydantic_metadata_in_annotated_is_kept() -> None:
    with pytest.raises(InvalidParameters) as raised:
        compile_signature(handler).validate_fields({"room": "a", "note": "too long"})
    assert str(raised.value) == "Invalid parameters for action 'handler'"
    assert [(e["loc"], e["type"]) for e in raised.value.errors] == [(["note"], "string_too_long")]


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        pytest.param({}, [(["room"], "missing")], id="missing"),
        pytest.param({"room": 5}, [(["room"], "string_type")], id="wrong-type"),
        pytest.param([], [([], "model_type")], id="not-an-object"),
    ],
)
def test_invalid_parameters_carry_pydantic_errors_by_parameter_name(
    data: Any, errors: list[tuple[list[Any], str]]
) -> None:
    with pytest.raises(InvalidParameters) as raised:
        compile_signature(handler).validate_fields(data)
    assert [(e["loc"], e["type"]) for e in raised.value.errors] == errors
    assert all(set(e) == {"loc", "msg", "type"} for e in raised.value.errors)


@pytest.mark.parametrize(
    "name", ["json", "model_config", "model_fields", "schema", "copy", "dict", "validate", "_x"]
)
def test_parameter_names_that_shadow_base_model_attributes_work(name: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"async def f({name}: int):\n    return {name}", namespace)
    signature = compile_signature(namespace["f"])
    assert signature.validate_fields({name: "4"}) == {name: 4}


def test_unannotated_parameters_accept_anything() -> None:
    async def loose(value, other=None):  # type: ignore[no-untyped-def]
        return value

    assert compile_signature(loose).validate_fields({"value": [1, {"a": None}]}) == {
        "value": [1, {"a": None}],
        "other": None,
    }


def test_star_args_and_kwargs_are_not_client_parameters() -> None:
    async def flexible(a: int, *args: Any, **kwargs: Any) -> None: ...

    assert compile_signature(flexible).field_names == ("a",)


def test_a_positional_only_parameter_is_refused_at_decoration() -> None:
    app = SocketAPI()

    async def positional(a: int, /) -> int:
        return a

    with pytest.raises(TypeError, match="positional-only"):
        app.action("positional")(positional)
    assert "positional" not in app._registry.actions


def page_size(n: int = 1) -> int:
    return n


def test_a_sync_dependency_is_called_without_await() -> None:
    async def uses(x: Annotated[int, Depends(page_size)]) -> None: ...

    ((name, dependency),) = compile_signature(uses).dependencies
    assert (name, dependency.func_name, dependency.is_async) == ("x", "page_size", False)


def test_validate_key_coerces_the_named_keys_only() -> None:
    async def notifications(
        user_id: Annotated[int, RequiredOnSubscribe],
        kind: Annotated[str, RequiredOnSubscribe] = "all",
        text: str = "",
    ) -> None: ...

    signature = compile_signature(notifications)
    assert signature.validate_key({"user_id": "7", "text": "x"}) == {"user_id": 7}
    assert signature.validate_key({"user_id": 7, "kind": "dm"}) == {"user_id": 7, "kind": "dm"}
    assert signature.validate_key({"text": "x"}) == {}


async def test_no_model_is_built_per_message(
    app: SocketAPI, connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    @app.action("add")
    async def add(a: int, b: Annotated[int, Depends(lookup)]) -> None: ...

    @app.channel("room")
    async def room(key: Annotated[int, RequiredOnSubscribe], text: str = "") -> str:
        return text

    built: list[str] = []
    real_create_model = pydantic.create_model

    def counting_create_model(*args: Any, **kwargs: Any) -> Any:
        built.append(args[0] if args else "?")
        return real_create_model(*args, **kwargs)

    monkeypatch.setattr(pydantic, "create_model", counting_create_model)
    async with connect(app) as client:
        for _ in range(3):
            await client.action("add", {"a": 1, "b": {"user_id": 2}})
            await client.action("add", {"a": "x"})
            await client.subscribe("room", {"key": "1"})
            await client.unsubscribe("room", {"key": 1})
        await room(key="1", text="hi")
    assert built == []


def test_a_local_class_resolves_in_the_decorating_scope_or_is_refused_by_name() -> None:
    class Local(pydantic.BaseModel):
        text: str

    async def feed(
        room: Annotated[str, RequiredOnSubscribe], conn: Connection, extra: Local | None = None
    ) -> None: ...

    signature = compile_signature(feed, keys_only=True, local_names=locals())
    assert signature.key_params == ("room",)
    assert signature.connection_params == ("conn",)
    with pytest.raises(TypeError, match="'extra'"):
        compile_signature(feed)  # nothing tells it where Local lives


async def test_a_handler_naming_a_local_class_works_or_is_refused_at_decoration(
    app: SocketAPI, connect: Any
) -> None:
    class Local(pydantic.BaseModel):
        n: int

    try:

        @app.action("local")
        async def local(item: Local) -> int:
            return item.n

    except (TypeError, NameError):
        return  # refused when decorated: acceptable
    async with connect(app) as client:
        assert await client.action("local", {"item": {"n": 1}}) == {
            "type": "action",
            "channel": "local",
            "status": "completed",
            "data": 1,
        }


def test_for_subscribe_makes_non_key_parameters_without_default_missing() -> None:
    async def analytics(
        room: Annotated[str, RequiredOnSubscribe], event: str, data: dict[str, Any], n: int = 1
    ) -> None: ...

    signature = compile_signature(analytics, for_subscribe=True)
    kwargs = signature.validate_fields({"room": "a", "event": "e"})
    assert kwargs == {"room": "a", "event": "e", "data": MISSING, "n": 1}
    assert not signature.is_complete(kwargs)
    assert signature.is_complete(signature.validate_fields({"room": "a", "event": "e", "data": {}}))
    with pytest.raises(InvalidParameters):  # the key is still required
        signature.validate_fields({"event": "e", "data": {}})
    with pytest.raises(InvalidParameters):  # and what is sent is still validated
        signature.validate_fields({"room": "a", "n": "many"})


async def test_for_subscribe_a_dependency_not_sent_is_missing_one_sent_invalid_is_refused() -> None:
    async def feed(user: Annotated[str, Depends(lookup)]) -> None: ...

    signature = compile_signature(feed, for_subscribe=True)
    assert await signature.resolve({}, None) == {"user": MISSING}
    assert await signature.resolve({"user": {"user_id": 2}}, None) == {"user": "user-2"}
    with pytest.raises(InvalidParameters):
        await signature.resolve({"user": {"user_id": "x"}}, None)


def test_an_unannotated_parameter_warns_once_at_decoration_naming_handler_and_parameter() -> None:
    app = SocketAPI()

    async def helper(token) -> str:  # type: ignore[no-untyped-def]
        return str(token)

    with pytest.warns(UserWarning) as caught:

        @app.action("echo")
        async def echo(value, count: int, anything: Any, who: Annotated[str, Depends(helper)]):  # type: ignore[no-untyped-def]
            return value

    assert [str(w.message) for w in caught] == [
        "action 'echo': parameter 'value' of echo() has no annotation, so the client's value"
        " reaches it unvalidated (annotate it; `: Any` accepts anything)",
        "action 'echo': parameter 'token' of helper() has no annotation, so the client's value"
        " reaches it unvalidated (annotate it; `: Any` accepts anything)",
    ]
    assert {w.filename for w in caught} == {__file__}  # points at the decorated code


def test_a_fully_annotated_channel_warns_nothing(recwarn: pytest.WarningsRecorder) -> None:
    app = SocketAPI()

    @app.channel("feed")
    async def feed(room: Annotated[str, RequiredOnSubscribe], text: Any = None) -> None: ...

    assert [str(w.message) for w in recwarn] == []
