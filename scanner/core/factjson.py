"""Facts ⇄ JSON: how observations are stored in the ``facts`` columns and read back.

Generic over the frozen msgspec Structs of ``scanner.core.model`` (and over dataclasses,
such as the chain facts of ``scanner.core.chain``): tuples become lists, bytes
become base64 strings, enums their values, dicts stay dicts. Decoding is driven by the
type hints, so a stored scan can be re-judged (``danescan regrade``) by newer rules.
Fields missing from old JSON take their defaults, so adding a field stays compatible;
JSON that does not fit the type raises ``ValueError``.

msgspec (a C extension, no I/O) does the work: a scan writes a facts column per domain,
host and address, and the hand-written reflection it replaces was a sixth of a scan's CPU.
The text must stay byte-identical to what ``json.dumps(..., separators=(",", ":"),
ensure_ascii=False)`` wrote before, because stored scans are compared and re-read. The two
writers agree on everything facts hold except floats that Python writes with an exponent
(below 1e-4 or from 1e16 on: ``1e-05`` against msgspec's ``0.00001``) or not as JSON at
all (``NaN``, ``Infinity``; msgspec writes ``null``), and strings with lone surrogates
(msgspec refuses them). A probe refused within 100 µs has such an ``elapsed``, so each
value is first checked for those floats — cheaply: which fields can hold a float is found
once per Struct or dataclass from its type hints — and the rare value holding one is
written by the standard library instead.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import typing
from functools import cache
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


def _enc_hook(value: Any) -> Any:
    """What msgspec does not write itself: subclasses of str, int and float (enums aside).

    ``json.dumps`` wrote them as the plain value they hold; anything else was an error.
    """
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"facts cannot hold a {type(value).__name__}")


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook)
_DECODER = msgspec.json.Decoder()


# ------------------------------------------------------------ floats both writers write alike


def _float_agrees(x: float) -> bool:
    """True when msgspec writes ``x`` exactly as Python's ``repr`` (so ``json.dumps``) does.

    repr switches to an exponent below 1e-4 and from 1e16 on; msgspec writes exponents
    its own way and non-finite values as null (NaN fails both comparisons).
    """
    return x == 0.0 or 1e-4 <= abs(x) < 1e16


_NO_FLOATS: frozenset[type] = frozenset({str, int, bool, bytes, type(None)})
# Per type: the names of its fields whose type hint can hold a float, None when the type
# is no Struct or dataclass; filled on first sight (a scan checks ~100 values per domain).
_FLOAT_FIELDS: dict[type, tuple[str, ...] | None] = {}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _field_names(tp: type) -> tuple[str, ...] | None:
    """The field names of a Struct or dataclass type, in order; None for other types."""
    if issubclass(tp, msgspec.Struct):
        return tp.__struct_fields__
    if dataclasses.is_dataclass(tp):
        return tuple(f.name for f in dataclasses.fields(tp))
    return None


def _float_fields(tp: type) -> tuple[str, ...] | None:
    try:
        return _FLOAT_FIELDS[tp]
    except KeyError:
        pass
    fields = _field_names(tp)
    # Every field until the hints are read: a type that contains itself sees that.
    _FLOAT_FIELDS[tp] = fields
    if fields is None:
        return None
    hints = _hints(tp)
    names = tuple(name for name in fields if _may_hold_float(hints[name]))
    _FLOAT_FIELDS[tp] = names
    return names


def _may_hold_float(hint: Any) -> bool:
    """Whether a value of type ``hint`` can hold a float anywhere inside (conservative)."""
    if hint in _NO_FLOATS:
        return False
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:
        return any(isinstance(a, float) for a in args)
    if args:  # unions, tuple[...], dict[...], list[...]
        return any(_may_hold_float(a) for a in args if a is not Ellipsis)
    if isinstance(hint, type) and not issubclass(hint, float):
        if issubclass(hint, enum.Enum):
            return any(isinstance(m.value, float) for m in hint)
        names = _float_fields(hint)
        if names is not None:  # a Struct or a dataclass
            return bool(names)
        return not issubclass(hint, str | int | bytes)
    return True  # float, Any, a type variable, ...: look at the value


def _floats_agree(value: Any) -> bool:
    """True when msgspec writes every float inside ``value`` as ``json.dumps`` does."""
    tp = type(value)
    if tp in _NO_FLOATS:
        return True
    if tp is float:
        return _float_agrees(value)
    if tp is tuple or tp is list:
        return all(map(_floats_agree, value))
    if tp is dict:
        return all(map(_floats_agree, value.values()))
    names = _float_fields(tp)
    if names is not None:
        # A loop, not all() over a generator: most facts have one float field
        # or none, and the generator cost more than the look.
        for name in names:  # noqa: SIM110 - faster than all() over a generator
            if not _floats_agree(getattr(value, name)):
                return False
        return True
    if isinstance(value, float):  # float subclasses, float-valued enums
        return _float_agrees(value)
    if isinstance(value, tuple | list):  # named tuples, list subclasses
        return all(map(_floats_agree, value))
    if isinstance(value, dict):
        return all(map(_floats_agree, value.values()))
    return True


_MSGPACK = msgspec.msgpack.Encoder(enc_hook=_enc_hook)


def _writes_alike(value: Any) -> bool:
    """True when msgspec writes ``value`` exactly as ``json.dumps`` does (floats aside, see
    ``dumps`` for strings).

    Structs and dataclasses: their float fields are few and known. Plain values (the
    domains table's facts are a dict of them) would be walked item by item, so look first
    at C speed: msgpack writes every float as the byte 0xcb and eight more, so an encoding
    without that byte holds no float. With it (or what msgpack cannot write): walk.
    """
    tp = type(value)
    if tp is dict or tp is list:
        try:
            if b"\xcb" not in _MSGPACK.encode(value):
                return True
        except (UnicodeEncodeError, OverflowError, TypeError):
            pass  # lone surrogates, ints beyond 64 bits, no JSON at all: json's business
    return _floats_agree(value)


# --------------------------------------------------------------------------- the API


def _stdlib_dumps(value: Any) -> str:
    """The standard library's text, for the rare value msgspec would write otherwise."""
    plain = msgspec.to_builtins(value, enc_hook=_enc_hook)
    return json.dumps(plain, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> str:
    """Compact JSON of a fact."""
    if _writes_alike(value):
        try:
            return _ENCODER.encode(value).decode()
        except UnicodeEncodeError:  # a lone surrogate: only json writes it
            pass
    return _stdlib_dumps(value)


_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def to_plain(value: Any) -> Any:
    """Turn a fact (Struct tree) into JSON-ready plain values (lists, dicts, scalars)."""
    if type(value) in _SCALARS:
        return value
    if _writes_alike(value):
        try:
            return _DECODER.decode(_ENCODER.encode(value))
        except UnicodeEncodeError:
            pass
    return json.loads(_stdlib_dumps(value))  # keeps NaN and the infinities, as before


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    """One decoder per type: building one means walking the type's hints."""
    try:
        return _DECODERS[tp]
    except KeyError:
        decoder = _DECODERS[tp] = msgspec.json.Decoder(tp)
        return decoder


def from_plain(tp: Any, data: Any) -> Any:
    """Rebuild a value of type ``tp`` from plain JSON values."""
    return msgspec.convert(data, tp)


def loads(tp: type[T], text: str) -> T:
    """Parse JSON written by ``dumps`` back into a ``tp``."""
    decoder: msgspec.json.Decoder[T] = _decoder(tp)
    try:
        return decoder.decode(text)
    except (msgspec.DecodeError, UnicodeEncodeError):
        # What json reads and msgspec does not (NaN, infinities, lone surrogates, raw or
        # escaped), or JSON that does not fit: the latter raises again, from convert.
        result: T = msgspec.convert(json.loads(text), tp)
        return result
