"""The hand-written facts JSON of danescan up to msgspec: the oracle the new one must match.

``scanner.core.factjson`` was this reflection over the model's dataclasses until msgspec took
over; every stored scan was written by it. Kept verbatim so the tests can hold the msgspec
version to byte-identical output: same ``dumps`` text, same ``to_plain`` values, same
``loads`` results. Two changes since: this docstring, and, since the model's types became
msgspec Structs, a Struct is walked exactly as a dataclass (its fields in order:
``_field_names`` and ``from_plain``). ``tests/core/dataclass_model.py`` keeps the model as
dataclasses, so the tests can still give this code the very types it wrote stored scans
from.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import types
import typing
from functools import cache
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})
# Field names per dataclass type, filled on first sight: to_plain runs ~100 times per
# domain, and dataclasses.is_dataclass/fields per call were a sixth of a scan's CPU.
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(tp: type) -> tuple[str, ...] | None:
    """The field names of a dataclass (or Struct) type; None for any other type (cached
    both ways)."""
    try:
        return _FIELD_NAMES[tp]
    except KeyError:
        names = (
            tuple(f.name for f in dataclasses.fields(tp)) if dataclasses.is_dataclass(tp) else None
        )
        if issubclass(tp, msgspec.Struct):
            names = tp.__struct_fields__
        _FIELD_NAMES[tp] = names
        return names


def to_plain(value: Any) -> Any:
    """Turn a fact (dataclass tree) into JSON-ready plain values."""
    tp = type(value)
    if tp in _SCALARS:
        return value
    if tp is tuple or tp is list:
        return [v if type(v) is str else to_plain(v) for v in value]
    names = _field_names(tp)
    if names is not None:
        return {n: to_plain(getattr(value, n)) for n in names}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def dumps(value: Any) -> str:
    """Compact JSON of a fact."""
    return json.dumps(to_plain(value), separators=(",", ":"), ensure_ascii=False)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_plain(tp: Any, data: Any) -> Any:
    """Rebuild a value of type ``tp`` from plain JSON values."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return from_plain(inner, data)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_plain(args[0], v) for v in data)
        return tuple(from_plain(a, v) for a, v in zip(args, data, strict=True))
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        return {from_plain(key_tp, k): from_plain(val_tp, v) for k, v in data.items()}
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            hints = _hints(tp)
            kwargs = {
                f.name: from_plain(hints[f.name], data[f.name])
                for f in dataclasses.fields(tp)
                if f.name in data
            }
            return tp(**kwargs)
        if issubclass(tp, msgspec.Struct):
            hints = _hints(tp)
            kwargs = {
                name: from_plain(hints[name], data[name])
                for name in tp.__struct_fields__
                if name in data
            }
            return tp(**kwargs)
        if issubclass(tp, enum.Enum):
            return tp(data)
        if tp is bytes:
            return base64.b64decode(data)
        if tp is float and isinstance(data, int):
            return float(data)
    return data


def loads(tp: type[T], text: str) -> T:
    """Parse JSON written by ``dumps`` back into a ``tp``."""
    result: T = from_plain(tp, json.loads(text))
    return result
