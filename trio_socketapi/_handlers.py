"""The objects the decorators return: ``ChannelHandler`` and ``ActionHandler``.

Both keep the decorated function's signature for type checkers (``ParamSpec``) and compile it
once, here. A ``ChannelHandler`` is also the broadcast: awaiting it runs the function and hands
the result to every app the handler is registered with.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, cast

import trio

from ._broker import Broker
from ._history import History, Publication
from ._hub import key_of
from ._paths import PathPattern, compile_path
from ._protocol import to_json
from ._signature import CompiledSignature, compile_signature, unannotated_parameters

P = ParamSpec("P")
R = TypeVar("R")


class ChannelHost(Protocol):
    """What a channel needs of an app it is served by (the app's ``AppCore``, see _core.py)."""

    @property
    def publishes_here(self) -> bool:
        """Whether broadcasts are published from this process rather than forwarded."""

    @property
    def trio_token(self) -> trio.lowlevel.TrioToken | None:
        """The trio loop a server of the app runs in, if one runs in this process."""

    @property
    def broker(self) -> Broker:
        """The app's broker (history is read from it)."""

    @property
    def forward_address(self) -> tuple[str, int]:
        """Where a forwarded broadcast goes (hosts with one address are forwarded to once)."""

    async def publish(
        self, handler: ChannelHandler[Any, Any], key: dict[str, Any], data_json: bytes | None
    ) -> None:
        """Publish one result, serialised once, to the app's subscribers (through the broker)."""

    async def forward(self, handler: ChannelHandler[Any, Any], arguments: dict[str, Any]) -> None:
        """Have the app's server run the call (no server of the app runs in this process)."""


class ActionHandler(Generic[P, R]):
    """A request/response handler; calling it calls the function directly."""

    def __init__(
        self,
        func: Callable[P, Awaitable[R]],
        name: str,
        *,
        local_names: Mapping[str, Any] | None = None,
    ) -> None:
        self.func = func
        self.name = name
        self.path: PathPattern | None = compile_path(name)
        """The name's pattern if it has ``{path}`` parameters (``rooms/{room_id}/join``)."""
        self.signature: CompiledSignature = compile_signature(func, local_names=local_names)
        warn_unannotated("action", name, func, local_names)
        _check_path_params(self.path, func, self.signature)
        functools.update_wrapper(self, func)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the action's function as plain Python (no validation, nothing sent)."""
        return await self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<action {self.name!r} -> {self.signature.func_name}>"


class ChannelHandler(Generic[P, R]):
    """A publish/subscribe channel; awaiting it broadcasts the function's result."""

    def __init__(
        self,
        func: Callable[P, Awaitable[R]],
        name: str,
        default_response: bool,
        *,
        history: History | None = None,
        presence: bool = False,
        local_names: Mapping[str, Any] | None = None,
    ) -> None:
        self.func = func
        self.name = name
        self.default_response = default_response
        self.history_config = history
        """How much of each stream's publications is kept (``None``: no history)."""
        self.presence_enabled = presence
        """Whether subscribers are tracked per stream (``presence``, join/leave frames)."""
        self.path: PathPattern | None = compile_path(name)
        """The name's pattern if it has ``{path}`` parameters (``chat/{room_id}``), which are
        then subscription keys; a subscription's and a data frame's name is the concrete one."""
        keys = frozenset(self.path.params if self.path else ())
        self.signature: CompiledSignature = compile_signature(
            func, local_names=local_names, key_names=keys
        )
        _check_path_params(self.path, func, self.signature)
        self.subscribe_signature: CompiledSignature = compile_signature(
            func, for_subscribe=True, local_names=local_names, key_names=keys
        )
        """What a ``subscribe`` validates: every parameter sent, non-key ones optional."""
        self.key_signature: CompiledSignature = compile_signature(
            func, keys_only=True, local_names=local_names, key_names=keys
        )
        """The subscription key alone, which an ``unsubscribe`` names."""
        warn_unannotated("channel", name, func, local_names)
        self._python_signature = inspect.signature(func)
        self._apps: list[ChannelHost] = []
        functools.update_wrapper(self, func)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the channel function once and send its result to the subscribers.

        Returns the function's result. Key (``RequiredOnSubscribe``) arguments the call names
        scope the delivery to the subscribers with equal (validated) values.

        In a process that serves no app this handler belongs to (and has no shared broker), the
        call is forwarded to the app's server, which runs the function there, and this returns
        ``None`` once that server has accepted it: the result exists only in the process that
        ran the function, and a forwarding caller (a script, a worker) is fire-and-forget by
        nature. The return type stays the function's so that every call in a serving process,
        the common case, is typed exactly. Raises ``PublishError`` if forwarding fails.

        Awaited in another trio loop of the process than the one serving the app (a test's own
        ``trio.run`` next to a ``testclient.TestClient``), the call runs in the serving loop.
        """
        loop = self._serving_loop()
        if loop is not None:
            call = functools.partial(self, *args, **kwargs)
            return await trio.to_thread.run_sync(
                functools.partial(trio.from_thread.run, call, trio_token=loop)
            )
        here = [app for app in self._apps if app.publishes_here]
        if self._apps and not here:
            # No server of this channel runs in this process: its server runs the function.
            arguments = self._arguments(args, kwargs)
            targets = {app.forward_address: app for app in self._apps}
            for app in targets.values():
                await app.forward(self, arguments)
            return cast(R, None)  # documented above: a forwarded call has no result here
        key = {}
        if self.signature.key_params:
            key = self.signature.validate_key(self._arguments(args, kwargs))
            if self.path is not None:
                self.concrete_name(key)  # a value with "/" fails here, before anything runs
        result = await self.func(*args, **kwargs)
        if here:
            data_json = None if result is None else to_json(result)  # once, for every app
            for app in here:
                await app.publish(self, key, data_json)
        # A checkpoint per broadcast lets subscribers' writers drain their outboxes, so a tight
        # loop of broadcasts cannot fill them and get fast clients closed as slow consumers.
        await trio.lowlevel.checkpoint()
        return result

    def _serving_loop(self) -> trio.lowlevel.TrioToken | None:
        """The trio loop serving this channel's app, if that is not the caller's loop."""
        for app in self._apps:
            token = app.trio_token
            if token is not None:
                return None if token is trio.lowlevel.current_trio_token() else token
        return None

    async def history(self, *, limit: int = 50, **key: Any) -> list[Publication]:
        """The newest ``limit`` kept publications of one stream, oldest first.

        ``key`` names every subscription key of the channel (``room_id="a"``), validated as a
        broadcast's are. Reads the history of the first app this channel is served by (in this
        process, or in Redis with a ``RedisBroker``). Raises ``ValueError`` if the channel keeps
        no history or is not included in an app, ``TypeError`` if ``key`` is not the channel's
        key, and whatever the broker raises (``BrokerUnavailable``).
        """
        if self.history_config is None:
            raise ValueError(f"channel {self.name!r} keeps no history (history=History(...))")
        params = self._stream_key(key, "history")
        broker = self._apps[0].broker
        return await broker.recent(self.name, key_of(params), limit, self.history_config)

    async def presence(self, **key: Any) -> dict[str, Any]:
        """Who is subscribed to one stream: connection id to that connection's ``info``.

        Over every server of the first app this channel is served by: the servers running in
        this process, or every process with a ``RedisBroker``. ``key`` names the channel's whole
        key. Raises ``ValueError`` if the channel has no presence or is in no app,
        ``TypeError`` for another key, and what the broker raises (``BrokerUnavailable``).
        """
        if not self.presence_enabled:
            raise ValueError(f"channel {self.name!r} has no presence (presence=True)")
        params = self._stream_key(key, "presence")
        return await self._apps[0].broker.presence(self.name, key_of(params))

    def _stream_key(self, key: dict[str, Any], what: str) -> dict[str, Any]:
        if not self._apps:
            raise ValueError(f"channel {self.name!r} is not included in an app")
        if set(key) != set(self.signature.key_params):
            raise TypeError(
                f"channel {self.name!r} {what} needs exactly its key "
                f"{list(self.signature.key_params)}, got {sorted(key)}"
            )
        return self.signature.validate_key(key)

    def concrete_name(self, key: Mapping[str, Any]) -> str:
        """The name subscribers of ``key`` (validated values) know this channel by: ``chat/42``
        for ``chat/{room_id}``. Raises ``ValueError`` if a path value is missing or has ``/``."""
        return self.name if self.path is None else self.path.format(key)

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return dict(self._python_signature.bind_partial(*args, **kwargs).arguments)

    def publish_threadsafe(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Broadcast from another thread of the serving process (a sync library's callback).

        Runs the call in the trio loop that serves this channel and blocks this thread until it
        is done; returns the result. Raises ``RuntimeError`` if no server of this channel runs
        in this process (from plain sync code, use ``trio.run(functools.partial(channel, ...))``
        instead), and whatever the broadcast raises.
        """
        token = next((app.trio_token for app in self._apps if app.trio_token is not None), None)
        if token is None:
            raise RuntimeError(f"no server of channel {self.name!r} runs in this process")
        return trio.from_thread.run(functools.partial(self, *args, **kwargs), trio_token=token)

    def _bind(self, app: ChannelHost) -> None:
        """Deliver this channel's broadcasts to ``app``'s subscribers too."""
        if app not in self._apps:
            self._apps.append(app)

    def __repr__(self) -> str:
        return f"<channel {self.name!r} -> {self.signature.func_name}>"


def warn_unannotated(
    kind: str, name: str, func: Callable[..., Any], local_names: Mapping[str, Any] | None
) -> None:
    """Warn, once per parameter at decoration, that a parameter without annotation takes the
    client's value unvalidated."""
    for func_name, parameter in unannotated_parameters(func, local_names):
        warnings.warn(
            f"{kind} {name!r}: parameter {parameter!r} of {func_name}() has no annotation, so"
            " the client's value reaches it unvalidated (annotate it; `: Any` accepts anything)",
            stacklevel=4,
        )


def _check_path_params(
    path: PathPattern | None, func: Callable[..., Any], signature: CompiledSignature
) -> None:
    """Refuse path parameters the function does not take from the client, or gives defaults."""
    if path is None:
        return
    parameters = inspect.signature(func).parameters
    for name in path.params:
        if name not in signature.field_names:
            raise TypeError(
                f"{path.template!r}: path parameter {name!r} must be a parameter of"
                f" {signature.func_name}() (not a Connection or Depends one)"
            )
        if parameters[name].default is not inspect.Parameter.empty:
            raise TypeError(
                f"{path.template!r}: path parameter {name!r} cannot have a default (the"
                " name always carries it)"
            )


def decorating_scope() -> Mapping[str, Any]:
    """The local names of the code applying a decorator (two frames up from the caller).

    Annotations naming a class defined in a function (common in tests) resolve there.
    """
    return sys._getframe(2).f_locals
