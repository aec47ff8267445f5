"""The JSON view of messages, the same dataclass fields both ways.

Used by ``mag-ap mh decode/encode`` and by logs. Rules: enums are written by
name (numbers are accepted too, and unknown values stay numbers), addresses as
text, bytes as hex, and a field that may be text or bytes writes bytes as
``{"hex": "..."}``. ``message_from_json(message_to_json(m)) == m``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Union

from . import ani, messages, option_area, options
from .constants import enum_or_int

JSONValue = Any

_MESSAGES: dict[str, type[messages.MobilityMessage]] = {
    cls.__name__: cls
    for cls in (
        *messages.MESSAGE_CLASSES.values(),
        *messages.REVOCATION_CLASSES.values(),
        messages.UnknownMessage,
    )
}
_OPTIONS: dict[str, type[options.MobilityOption]] = {
    cls.__name__: cls for cls in (*option_area.OPTION_CLASSES.values(), options.UnknownOption)
}
_SUB_OPTIONS: dict[str, type[ani.ANISubOption]] = {
    cls.__name__: cls for cls in (*ani.ANI_SUB_OPTION_CLASSES.values(), ani.UnknownANISubOption)
}
_BASE_FIELDS = frozenset(f.name for f in dataclasses.fields(messages.MobilityMessage))
_KIND_KEY: dict[str, dict[str, type[Any]]] = {
    "message": _MESSAGES,
    "option": _OPTIONS,
    "sub_option": _SUB_OPTIONS,
}


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """Resolved field types of a dataclass, computed once per class."""
    if cls not in _HINTS:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return _HINTS[cls]


def _union_args(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _value_to_json(value: Any, hint: Any) -> JSONValue:
    if isinstance(value, bool):
        return value
    if isinstance(value, IntEnum):
        return value.name
    if isinstance(value, int | str):
        return value
    if isinstance(value, IPv4Address | IPv6Address):
        return str(value)
    if isinstance(value, bytes):
        return {"hex": value.hex()} if str in _union_args(hint) else value.hex()
    if isinstance(value, tuple):
        return [_object_to_json(item) for item in value]
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _object_to_json(obj: Any) -> dict[str, JSONValue]:
    cls = type(obj)
    if cls.__name__ in _MESSAGES:
        kind = "message"
    elif cls.__name__ in _OPTIONS:
        kind = "option"
    else:
        kind = "sub_option"
    out: dict[str, JSONValue] = {kind: cls.__name__}
    hints = _hints(cls)
    # The message's own fields first, the shared header fields and options last.
    for name in sorted(hints, key=lambda n: n in _BASE_FIELDS):
        out[name] = _value_to_json(getattr(obj, name), hints[name])
    return out


def message_to_json(msg: messages.MobilityMessage) -> dict[str, JSONValue]:
    """A JSON-ready dict of every field of ``msg``, options included."""
    return _object_to_json(msg)


class JSONViewError(ValueError):
    """The JSON does not describe a message; ``path`` names the bad key."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


def _value_from_json(raw: JSONValue, hint: Any, path: str) -> Any:
    args = _union_args(hint)
    enum_cls = next((a for a in args if isinstance(a, type) and issubclass(a, IntEnum)), None)
    if bool in args:
        if not isinstance(raw, bool):
            raise JSONViewError(path, "expected true or false")
        return raw
    if enum_cls is not None:
        if isinstance(raw, str):
            try:
                return enum_cls[raw]
            except KeyError:
                raise JSONViewError(path, f"unknown {enum_cls.__name__} name {raw!r}") from None
        if isinstance(raw, int) and not isinstance(raw, bool):
            return enum_or_int(enum_cls, raw)
        raise JSONViewError(path, f"expected a {enum_cls.__name__} name or number")
    if IPv4Address in args or IPv6Address in args:
        addr_cls = IPv4Address if IPv4Address in args else IPv6Address
        try:
            return addr_cls(raw)
        except ValueError as exc:
            raise JSONViewError(path, str(exc)) from None
    if bytes in args:
        if str in args and isinstance(raw, str):
            return raw
        text: object = raw.get("hex") if isinstance(raw, dict) and str in args else raw
        if not isinstance(text, str):
            raise JSONViewError(path, "expected a hex string")
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise JSONViewError(path, f"not hex: {text!r}") from None
    if int in args:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise JSONViewError(path, "expected an integer")
        return raw
    if typing.get_origin(hint) is tuple:
        if not isinstance(raw, list):
            raise JSONViewError(path, "expected a list")
        return tuple(_object_from_json(item, f"{path}[{i}]") for i, item in enumerate(raw))
    raise JSONViewError(path, f"unsupported field type {hint}")


def _object_from_json(raw: JSONValue, path: str) -> Any:
    if not isinstance(raw, dict):
        raise JSONViewError(path, "expected an object")
    kinds = [k for k in _KIND_KEY if k in raw]
    if len(kinds) != 1:
        raise JSONViewError(path, "needs exactly one of 'message', 'option', 'sub_option'")
    kind = kinds[0]
    cls = _KIND_KEY[kind].get(raw[kind])
    if cls is None:
        raise JSONViewError(f"{path}.{kind}", f"unknown {kind} {raw[kind]!r}")
    hints = _hints(cls)
    unknown = set(raw) - set(hints) - {kind}
    if unknown:
        raise JSONViewError(path, f"unknown field(s) {sorted(unknown)} for {cls.__name__}")
    values = {
        name: _value_from_json(raw[name], hint, f"{path}.{name}")
        for name, hint in hints.items()
        if name in raw
    }
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise JSONViewError(path, str(exc)) from None


def message_from_json(raw: JSONValue) -> messages.MobilityMessage:
    """Build a message from its JSON view; errors name the JSON path."""
    msg = _object_from_json(raw, "$")
    if not isinstance(msg, messages.MobilityMessage):
        raise JSONViewError("$", "top level must be a message")
    return msg


__all__ = ["JSONViewError", "message_from_json", "message_to_json"]
