"""Handler signatures, compiled once when a handler is decorated.

A ``CompiledSignature`` knows which parameters the client supplies (validated by one pydantic model
built here, never per message), which are ``Depends`` (resolved recursively from nested data),
which receive the ``Connection``, and which are ``RequiredOnSubscribe`` subscription keys.

A channel is compiled a second time ``for_subscribe``: a ``subscribe`` validates every parameter
the client sent, key or not, but a non-key parameter it did not send and that has no default is
``MISSING`` rather than an error, so the subscription can be made without calling the function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, cast, final, get_args, get_origin

import attrs
import pydantic

from ._connection import Connection
from ._markers import Depends, RequiredOnSubscribe
from ._protocol import INVALID_PARAMETERS


class InvalidParameters(Exception):
    """The client's ``data`` does not validate against a handler's parameters."""

    def __init__(self, func_name: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(INVALID_PARAMETERS.format(func=func_name))
        self.errors = errors


@final
class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""The value of a parameter a ``subscribe`` did not send and that has no default."""


@attrs.frozen
class _Parameter:
    name: str
    annotation: Any
    metadata: tuple[Any, ...]
    default: Any
    annotated: bool = True

    @property
    def is_key(self) -> bool:
        return any(m is RequiredOnSubscribe for m in self.metadata)

    @property
    def dependency(self) -> Depends | None:
        return next((m for m in self.metadata if isinstance(m, Depends)), None)

    @property
    def wants_connection(self) -> bool:
        return self.annotation is Connection


@attrs.frozen(eq=False)
class CompiledSignature:
    """The compiled form of one handler's (or dependency's) signature."""

    func: Callable[..., Any]
    func_name: str
    is_async: bool
    model: type[pydantic.BaseModel]
    field_names: tuple[str, ...]
    dependencies: tuple[tuple[str, CompiledSignature], ...]
    connection_params: tuple[str, ...]
    key_params: tuple[str, ...]
    key_adapters: Mapping[str, pydantic.TypeAdapter[Any]]
    for_subscribe: bool = False

    async def resolve(self, data: object, connection: Connection | None) -> dict[str, Any]:
        """Validate ``data`` and resolve dependencies into the handler's keyword arguments.

        Raises ``InvalidParameters`` naming this function (or the dependency that failed).
        Compiled ``for_subscribe``, a non-key parameter (or dependency) the client did not send
        and could not do without is ``MISSING`` instead.
        """
        if data is None:
            data = {}
        kwargs = self.validate_fields(data)
        if self.dependencies:
            assert isinstance(data, dict)  # validation accepted it, so it is a mapping
            for name, dependency in self.dependencies:
                nested = data.get(name)
                try:
                    kwargs[name] = await dependency.call(nested, connection)
                except InvalidParameters:
                    if not self.for_subscribe or nested is not None or name in self.key_params:
                        raise
                    kwargs[name] = MISSING
        for name in self.connection_params:
            kwargs[name] = connection
        return kwargs

    def validate_fields(self, data: object) -> dict[str, Any]:
        """Validate the client-supplied parameters only (no dependencies, nothing injected)."""
        try:
            validated = self.model.__pydantic_validator__.validate_python(data)
        except pydantic.ValidationError as exc:
            raise InvalidParameters(self.func_name, _error_list(exc)) from None
        return dict(zip(self.field_names, validated.__dict__.values(), strict=True))

    async def call(self, data: object, connection: Connection | None) -> Any:
        """Resolve the arguments from ``data`` and call the function."""
        kwargs = await self.resolve(data, connection)
        result = self.func(**kwargs)
        if self.is_async:
            result = await result
        return result

    @staticmethod
    def is_complete(kwargs: Mapping[str, Any]) -> bool:
        """Whether ``resolve`` found a value for every parameter (none is ``MISSING``)."""
        return all(value is not MISSING for value in kwargs.values())

    def validate_key(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the key parameters present in ``arguments`` (a broadcast call's arguments)."""
        return {
            name: self.key_adapters[name].validate_python(arguments[name])
            for name in self.key_params
            if name in arguments
        }


def compile_signature(
    func: Callable[..., Any],
    *,
    keys_only: bool = False,
    for_subscribe: bool = False,
    local_names: Mapping[str, Any] | None = None,
    key_names: frozenset[str] = frozenset(),
) -> CompiledSignature:
    """Compile ``func``'s signature; with ``keys_only``, only its ``RequiredOnSubscribe`` part;
    ``for_subscribe``, with its non-key parameters optional (``MISSING`` when not sent).

    ``key_names`` are parameters that are subscription keys as if annotated
    ``RequiredOnSubscribe`` (a channel's path parameters).

    String annotations (``from __future__ import annotations``) are resolved in the function's
    module and then in ``local_names`` (the decorating scope, for classes defined in a function).
    Raises ``TypeError`` at decoration time for a signature no client could call or an
    annotation that cannot be resolved.
    """
    parameters = [
        attrs.evolve(p, metadata=(*p.metadata, RequiredOnSubscribe)) if p.name in key_names else p
        for p in _parameters_of(func, local_names)
    ]
    if keys_only:
        parameters = [p for p in parameters if p.is_key or p.wants_connection]
    fields: dict[str, Any] = {}
    field_names: list[str] = []
    dependencies: list[tuple[str, CompiledSignature]] = []
    connection_params: list[str] = []
    key_params: list[str] = []
    key_adapters: dict[str, pydantic.TypeAdapter[Any]] = {}
    config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    for parameter in parameters:
        if parameter.wants_connection:
            connection_params.append(parameter.name)
            continue
        plain = [
            m for m in parameter.metadata if m is not RequiredOnSubscribe and not _is_depends(m)
        ]
        annotation: Any = parameter.annotation
        if plain:
            annotation = cast(Any, Annotated)[tuple([annotation, *plain])]
        if parameter.is_key:
            key_params.append(parameter.name)
            key_adapters[parameter.name] = _adapter(annotation, config)
        dependency = parameter.dependency
        if dependency is not None:
            compiled = compile_signature(dependency.dependency, local_names=local_names)
            dependencies.append((parameter.name, compiled))
            continue
        default = parameter.default
        if default is inspect.Parameter.empty:
            default = MISSING if for_subscribe and not parameter.is_key else ...
        # Aliased positional field names keep user parameter names (``json``, ``_x``) from
        # clashing with BaseModel's own attributes.
        fields[f"f{len(field_names)}"] = (annotation, pydantic.Field(default, alias=parameter.name))
        field_names.append(parameter.name)
    name = getattr(func, "__name__", repr(func))
    model = pydantic.create_model(f"{name}_parameters", __config__=config, **fields)
    if not model.__pydantic_complete__:
        raise TypeError(f"{func!r}: its parameter types are not fully defined")
    return CompiledSignature(
        func=func,
        func_name=name,
        is_async=inspect.iscoroutinefunction(func),
        model=model,
        field_names=tuple(field_names),
        dependencies=tuple(dependencies),
        connection_params=tuple(connection_params),
        key_params=tuple(key_params),
        key_adapters=key_adapters,
        for_subscribe=for_subscribe,
    )


def unannotated_parameters(
    func: Callable[..., Any], local_names: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """``(function name, parameter name)`` of every parameter of ``func`` and of its
    dependencies (recursively) that has no annotation, so a client's value reaches it as is."""
    found = []
    for parameter in _parameters_of(func, local_names):
        if not parameter.annotated:
            found.append((getattr(func, "__name__", repr(func)), parameter.name))
        dependency = parameter.dependency
        if dependency is not None:
            found += unannotated_parameters(dependency.dependency, local_names)
    return found


def _parameters_of(
    func: Callable[..., Any], local_names: Mapping[str, Any] | None
) -> list[_Parameter]:
    signature = inspect.signature(func)
    module_names = getattr(inspect.unwrap(func), "__globals__", {})
    parameters = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.kind is p.POSITIONAL_ONLY:
            raise TypeError(f"{func!r}: positional-only parameter {p.name!r} cannot be sent")
        annotation = Any if p.annotation is inspect.Parameter.empty else p.annotation
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, module_names, dict(local_names or {}))
            except Exception as exc:
                raise TypeError(
                    f"{func!r}: cannot resolve the annotation {annotation!r} of parameter"
                    f" {p.name!r} ({exc}); define what it names at module level"
                ) from exc
        metadata: tuple[Any, ...] = ()
        if get_origin(annotation) is Annotated:
            annotation, *rest = get_args(annotation)
            metadata = tuple(rest)
        annotated = p.annotation is not inspect.Parameter.empty
        parameters.append(_Parameter(p.name, annotation, metadata, p.default, annotated))
    return parameters


def _adapter(annotation: Any, config: pydantic.ConfigDict) -> pydantic.TypeAdapter[Any]:
    try:
        return pydantic.TypeAdapter(annotation, config=config)
    except pydantic.PydanticUserError:  # models and dataclasses carry their own config
        return pydantic.TypeAdapter(annotation)


def _is_depends(marker: object) -> bool:
    return isinstance(marker, Depends)


def _error_list(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
