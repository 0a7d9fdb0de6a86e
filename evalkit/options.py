"""Options of systems and metrics: one frozen dataclass per system or metric, as whisper's
`DecodingOptions`, validated here and nowhere else.

A class declares its options as a frozen dataclass whose fields carry their defaults and
types, and names it `Options`:

    @dataclass(frozen=True)
    class LoudnessOptions:
        target_lufs: float = -23.0
        window: Literal["momentary", "short-term"] = "short-term"

    class Loudness(Metric):
        Options = LoudnessOptions

Every way options arrive (keyword arguments from Python, `--option` / `--metric-option`
from the command line, a rebuild from run.json by the gate, the report or a Ray worker)
goes through `build_options`, which rejects unknown names and values of the wrong type
with the class, the option, the value and what was expected. The instance is the
object's `opts`; its JSON form (`options_json`) is what run.json records and caches key on.

Values from the command line are YAML scalars (`true`, `16`, `0.5`, `null`), so an int
is accepted where a float is expected, and a list where a tuple is.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import functools
import json
import types
import typing
from typing import Any, Callable, Literal, Mapping, Union

from evalkit.types import EvalkitError


def option_defaults(options_class: type) -> dict[str, Any]:
    """Every option with its default, as JSON values (what `evalkit metrics options NAME` shows)."""
    return options_json(options_class())


def build_options(kind: str, name: str, options_class: type, given: Mapping[str, Any]) -> Any:
    """An `options_class` instance from `given` (names it lacks take their defaults).

    Raises EvalkitError naming `kind` `name`, the option and what was expected, for an
    unknown option or a value of the wrong type (a misspelt option must not silently run
    the default; a string where a number belongs must not fail deep inside a model)."""
    hints = _hints(options_class)
    unknown = sorted(set(given) - set(hints))
    if unknown:
        raise EvalkitError(f"{kind} {name!r} has no option(s) {unknown}; known: {sorted(hints)}")
    values = {}
    for key, value in given.items():
        try:
            values[key] = _coerce(value, hints[key])
        except TypeError:
            raise EvalkitError(f"{kind} {name!r}: option {key}={value!r} must be {_describe(hints[key])}") from None
    try:
        return options_class(**values)
    except (TypeError, ValueError) as exc:  # the dataclass's own __post_init__ checks
        raise EvalkitError(f"{kind} {name!r}: {exc}") from None


def options_json(options: Any) -> dict[str, Any]:
    """The options as plain JSON values (tuples become lists, mappings dicts), so that a
    run.json written now compares equal with one read back."""
    return {f.name: _json_value(getattr(options, f.name)) for f in dataclasses.fields(options)}


def resolve_options(kind: str, name: str, owner: type, given: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(the `owner.Options` instance, its JSON form) of a system or metric class.

    A class without `Options` (a plugin written before it existed) lists its options in
    `default_options()`: only their names are checked, and its instance is None. A plugin
    that subclasses a built-in and adds options by overriding `default_options()` keeps
    working: the options its parent declares are validated into the parent's `Options`,
    the ones it added are checked by name only."""
    options_class = getattr(owner, "Options", None)
    if declares_options(owner):
        opts = build_options(kind, name, options_class, given)
        return opts, options_json(opts)
    defaults = owner.default_options()
    unknown = set(given) - set(defaults)
    if unknown:
        raise EvalkitError(f"{kind} {name!r} has no option(s) {sorted(unknown)}; known: {sorted(defaults)}")
    merged = {**defaults, **given}
    if options_class is None:
        return None, merged
    opts = build_options(kind, name, options_class, {k: v for k, v in merged.items() if k in _hints(options_class)})
    return opts, {**merged, **options_json(opts)}


def declares_options(owner: type) -> bool:
    """Are `owner.Options` all of the class's options (not a plugin subclass that added
    more through `default_options()`)?"""
    options_class = getattr(owner, "Options", None)
    return options_class is not None and set(owner.default_options()) == set(_hints(options_class))


def describe_options(options_class: type) -> list[tuple[str, str, Any]]:
    """(name, expected type in words, default) per option, in declaration order."""
    hints = _hints(options_class)
    defaults = option_defaults(options_class)
    return [(f.name, _describe(hints[f.name]), defaults[f.name]) for f in dataclasses.fields(options_class)]


# -- type checks -------------------------------------------------------------------------------

# hint -> (does a value qualify, what the error message says is expected). A YAML `true` is
# not an int; an int qualifies as a float (`--option temperature=1`) and becomes one.
SCALARS: dict[Any, tuple[Callable[[Any], bool], str]] = {
    type(None): (lambda v: v is None, "null"),
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


@functools.cache
def _hints(options_class: type) -> dict[str, Any]:
    if not (dataclasses.is_dataclass(options_class) and options_class.__dataclass_params__.frozen):
        raise TypeError(f"{options_class!r}: options must be a frozen dataclass")
    hints = typing.get_type_hints(options_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(options_class)}


def _coerce(value: Any, hint: Any) -> Any:
    """`value` as `hint` wants it, or TypeError."""
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        for arg in args:
            try:
                return _coerce(value, arg)
            except TypeError:
                continue
        raise TypeError
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):  # True is not 1
            return value
        raise TypeError
    if hint in SCALARS:
        accepts, _ = SCALARS[hint]
        if not accepts(value):
            raise TypeError
        return float(value) if hint is float else value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        item = args[0] if args else Any
        return tuple(_coerce(v, item) for v in value)
    if _is_mapping(hint):
        if not isinstance(value, Mapping):
            raise TypeError
        return dict(value)
    raise TypeError(f"option type {hint!r} is not supported; use bool, int, float, str, Literal, tuple, "
                    "Mapping, Any or an Optional of them")


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)  # as typed: "auto", true
    if origin is tuple:
        return f"a list (each {_describe(args[0])})" if args else "a list"
    if _is_mapping(hint):
        return "a mapping"
    if hint is Any:
        return "any value"
    return SCALARS[hint][1] if hint in SCALARS else repr(hint)


def _is_mapping(hint: Any) -> bool:
    return (typing.get_origin(hint) or hint) in (dict, collections.abc.Mapping)


def _json_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value
