"""Facts survive the JSON round trip used by the facts columns and regrade.

The msgspec implementation must write exactly what the hand-written one did (kept as the
oracle in ``tests/core/factjson_oracle.py``): on the facts of a stored scan of the local
world (``tests/core/data/stored-facts.jsonl.gz``: every ``domains.facts``, ``hosts.facts``
and ``addresses.facts`` value of a scan of the 88 scenario domains, written by the
hand-written code at commit 628b8c4) and on generated facts with the awkward values
(floats Python writes with an exponent, NaN, lone surrogates, arbitrary bytes).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import gzip
import json
import math
import typing
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal, NamedTuple

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core import factjson
from scanner.core.model import (
    DnsLookup,
    DomainFacts,
    Ede,
    HostDns,
    MtaSts,
    ProbeStatus,
    Rrsig,
    SmtpProbe,
    TlsHandshake,
    ZoneKeys,
)
from tests.core import dataclass_model as old
from tests.core import factjson_oracle as oracle
from tests.core.storedfacts import assert_written_as_before

STORED = Path(__file__).resolve().parent / "data" / "stored-facts.jsonl.gz"


def _lookup(name: str, rrtype: str, *records: str) -> DnsLookup:
    return DnsLookup(
        name,
        rrtype,
        "NOERROR",
        ad=True,
        records=records,
        cname_chain=("alias.example",),
        ttl=300,
        ede=(Ede(6, "DNSSEC Bogus"),),
        rrsigs=(Rrsig(rrtype, 13, "example", 1_900_000_000, 1_800_000_000),),
    )


def test_domain_facts_round_trip() -> None:
    host = HostDns(
        "mx.example",
        _lookup("mx.example", "A", "127.0.0.1"),
        DnsLookup("mx.example", "AAAA", "SERVFAIL", cd_rcode="NOERROR"),
        (_lookup("_25._tcp.mx.example", "TLSA", "3 1 1 " + "ab" * 32),),
    )
    probe = SmtpProbe(
        "mx.example",
        "127.0.0.1",
        "mx.example",
        ProbeStatus.OK,
        banner="220 hi",
        ehlo=("250-x", "250 STARTTLS"),
        starttls_offered=True,
        handshakes=(TlsHandshake("default", True, "TLSv1.3", "X", (b"\x30\x82\x00", b"\x00\xff")),),
        elapsed=0.25,
    )
    facts = DomainFacts(
        "example",
        _lookup("example", "MX", "10 mx.example."),
        hosts={"mx.example": host},
        probes={"mx.example": (probe,)},
    )
    text = factjson.dumps(facts)
    assert factjson.loads(DomainFacts, text) == facts
    assert factjson.to_plain(facts) == _reference_plain(facts)
    plain = json.loads(text)
    assert plain["probes"]["mx.example"][0]["status"] == "ok"  # enum by value
    assert plain["probes"]["mx.example"][0]["handshakes"][0]["chain"] == ["MIIA", "AP8="]
    assert factjson.from_plain(DomainFacts, plain) == facts


def _reference_plain(value: Any) -> Any:
    """The obvious generic conversion, against which the fast path is checked."""
    if isinstance(value, msgspec.Struct):
        return {
            f.name: _reference_plain(getattr(value, f.name)) for f in msgspec.structs.fields(value)
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _reference_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple | list):
        return [_reference_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _reference_plain(v) for k, v in value.items()}
    return value


def test_missing_fields_take_defaults() -> None:
    got = factjson.loads(DnsLookup, '{"name": "a", "rrtype": "MX", "rcode": "NXDOMAIN"}')
    assert got == DnsLookup("a", "MX", "NXDOMAIN")


# ------------------------------------------------------------------- a stored scan's facts


def test_stored_scan_facts_are_written_byte_for_byte_as_before() -> None:
    with gzip.open(STORED, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    checked = assert_written_as_before([(r["table"], r["facts"]) for r in rows])
    assert checked == {"domains": 88, "hosts": 68, "addresses": 69}


# ------------------------------------------------------------------ generated awkward facts

# Any code point, lone surrogates included (json writes them, msgspec refuses).
_text = st.text(st.characters(exclude_categories=()), max_size=6)
# Floats everywhere, and often the ones whose text differs between the two writers.
_floats = st.one_of(
    st.floats(),
    st.floats(min_value=-2e-4, max_value=2e-4),
    st.sampled_from([1e16, 9999999999999998.0, 1e-4, 9.99e-5, -0.0, 0.0, math.inf, -math.inf]),
)
_lookups = st.builds(
    DnsLookup,
    name=_text,
    rrtype=st.sampled_from(["MX", "A", "TLSA"]),
    rcode=_text,
    ad=st.booleans(),
    cd_rcode=st.none() | _text,
    records=st.lists(_text, max_size=3).map(tuple),
    ttl=st.none() | st.integers(),
    ede=st.lists(st.builds(Ede, st.integers(0, 30), _text), max_size=2).map(tuple),
    rrsigs=st.lists(
        st.builds(Rrsig, _text, st.integers(0, 255), _text, st.integers(), st.integers()),
        max_size=1,
    ).map(tuple),
)
_probes = st.builds(
    SmtpProbe,
    host=_text,
    address=_text,
    sni=_text,
    status=st.sampled_from(ProbeStatus),
    banner=_text,
    ehlo=st.lists(_text, max_size=2).map(tuple),
    handshakes=st.lists(
        st.builds(
            TlsHandshake,
            variant=_text,
            ok=st.booleans(),
            chain=st.lists(st.binary(max_size=9), max_size=2).map(tuple),
        ),
        max_size=2,
    ).map(tuple),
    started_at=_floats,
    elapsed=_floats,
)
_domain_facts = st.builds(
    DomainFacts,
    domain=_text,
    mx=_lookups,
    implicit_mx=st.booleans(),
    hosts=st.dictionaries(
        _text, st.builds(HostDns, _text, _lookups, _lookups, st.just(())), max_size=2
    ),
    probes=st.dictionaries(_text, st.lists(_probes, max_size=2).map(tuple), max_size=2),
    zone_keys=st.none() | st.builds(ZoneKeys, _text, _lookups, _lookups),
    mta_sts=st.none()
    | st.builds(MtaSts, sts_txt=_lookups, mode=_text, max_age=st.none() | st.integers()),
    probing_enabled=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(_domain_facts)
def test_generated_facts_are_written_and_read_as_before(facts: DomainFacts) -> None:
    text = factjson.dumps(facts)
    assert text == oracle.dumps(facts)
    # repr: NaN is not equal to itself, its repr is.
    assert repr(factjson.to_plain(facts)) == repr(oracle.to_plain(facts))
    assert repr(factjson.loads(DomainFacts, text)) == repr(oracle.loads(DomainFacts, text))
    assert repr(factjson.loads(DomainFacts, text)) == repr(facts)
    # The model as the dataclasses it was: the same text written, the same value read.
    twin = old.from_struct(facts)
    assert oracle.dumps(twin) == text == factjson.dumps(twin)
    assert repr(oracle.loads(old.DomainFacts, text)) == repr(twin) == repr(facts)
    assert repr(factjson.loads(old.DomainFacts, text)) == repr(twin)


@given(st.lists(_floats | _text, max_size=4))
def test_plain_values_are_written_as_before(values: list[Any]) -> None:
    # The domains table's facts are a plain dict: the floats check walks plain values too.
    assert factjson.dumps({"v": values}) == oracle.dumps({"v": values})
    assert repr(factjson.to_plain((values,))) == repr(oracle.to_plain((values,)))


def test_plain_values_checked_for_floats_at_c_speed_first() -> None:
    # msgpack's float marker 0xcb also occurs inside other values: then the values are walked.
    for value in (
        {"n": 0xCB, "t": "\u02cb"},  # no float, the marker byte twice
        {"t": [0.5, 1e-05]},
        {"t": "\ud800"},  # msgpack refuses lone surrogates, json writes them
        {"n": 2**70},  # msgpack stops at 64 bits
    ):
        assert factjson.dumps(value) == oracle.dumps(value)
        assert factjson.to_plain(value) == oracle.to_plain(value)


def test_floats_written_with_an_exponent_or_not_finite() -> None:
    probe = SmtpProbe("h", "127.0.0.1", "h", ProbeStatus.CONNECT_REFUSED, elapsed=5e-05)
    assert '"elapsed":5e-05' in factjson.dumps(probe)  # Python's text, not msgspec's 0.00005
    assert factjson.dumps([1e16, -1e-7, 2.5]) == "[1e+16,-1e-07,2.5]"
    assert factjson.dumps(math.nan) == "NaN"
    assert factjson.loads(float, "NaN") != factjson.loads(float, "NaN")
    assert factjson.loads(list[float], "[Infinity, 1e400]") == [math.inf, math.inf]
    assert factjson.to_plain((math.inf,)) == [math.inf]


def test_lone_surrogates_are_written_and_read_as_before() -> None:
    probe = SmtpProbe("h", "127.0.0.1", "h", ProbeStatus.OK, banner="220 \ud800")
    text = factjson.dumps(probe)
    assert text == oracle.dumps(probe) and '"banner":"220 \ud800"' in text
    assert factjson.loads(SmtpProbe, text) == probe
    assert factjson.loads(str, '"\\udc80"') == "\udc80"
    assert factjson.to_plain(probe)["banner"] == "220 \ud800"


def test_json_that_does_not_fit_the_type_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        factjson.loads(DnsLookup, '{"name": "a", "rrtype": "MX"}')  # rcode is required
    with pytest.raises(ValueError):
        factjson.loads(DnsLookup, "{")
    with pytest.raises(ValueError):
        factjson.loads(SmtpProbe, '{"host": "h", "address": "a", "sni": "h", "status": "new"}')
    with pytest.raises(ValueError):
        factjson.from_plain(Ede, {"code": "six"})


@dataclasses.dataclass(frozen=True, slots=True)
class _Sample:
    """A fact shape the model may grow into: a fixed-length tuple, a float, free fields."""

    pair: tuple[int, str]
    ratio: float
    extra: Any = None
    mode: Literal["enforce", "testing", "none", ""] = ""


def test_fixed_length_tuple_round_trip() -> None:
    sample = _Sample((25, "smtp"), 0.5)
    text = factjson.dumps(sample)
    assert json.loads(text) == {"pair": [25, "smtp"], "ratio": 0.5, "extra": None, "mode": ""}
    back = factjson.loads(_Sample, text)
    assert back == sample and type(back.pair) is tuple


def test_fixed_length_tuple_of_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError):
        factjson.loads(_Sample, '{"pair": [25, "smtp", "extra"], "ratio": 0.5}')


def test_integral_float_from_json_is_a_float() -> None:
    # JSON has one number type; another writer may store 2.0 as 2.
    back = factjson.loads(_Sample, '{"pair": [1, "a"], "ratio": 2}')
    assert back.ratio == 2.0 and type(back.ratio) is float
    assert type(factjson.from_plain(float, 2)) is float


def test_untyped_field_keeps_plain_json() -> None:
    # Hints that name no dataclass, enum, bytes or float (Any, a Literal) leave data as is.
    text = '{"pair": [1, "a"], "ratio": 1.5, "extra": {"k": [1, 2]}, "mode": "testing"}'
    back = factjson.loads(_Sample, text)
    assert back.extra == {"k": [1, 2]}
    assert back.mode == "testing"
    assert factjson.from_plain(typing.Any, [1, "x"]) == [1, "x"]
    assert factjson.from_plain(Literal["a", "b"], "b") == "b"
    # A free field's floats are looked at too.
    assert factjson.dumps(_Sample((1, "a"), 1.5, extra={"t": (1e-9,)})) == oracle.dumps(
        _Sample((1, "a"), 1.5, extra={"t": (1e-9,)})
    )


class _Point(NamedTuple):
    x: int
    y: bytes
    z: float = 0.5


class _Label(str):
    def __str__(self) -> str:
        return "not the value"


class _Count(int):
    pass


class _Ratio(float):
    pass


class _Tiny(float, enum.Enum):
    EPSILON = 1e-9
    HALF = 0.5


class _Colour(enum.Enum):
    RED = "red"


# Literal[0.5, 1.0], which type checkers refuse (floats are no literal types) but may occur.
_FLOAT_LITERAL: Any = typing.cast(Any, Literal)[0.5, 1.0]


@dataclasses.dataclass(frozen=True)
class _Node:
    """A fact that contains itself (the floats check must not loop on its hints)."""

    weight: float
    label: _Label | None = None
    colour: _Colour = _Colour.RED
    tiny: _Tiny = _Tiny.HALF
    window: _FLOAT_LITERAL = 0.5
    child: _Node | None = None


def test_values_of_other_kinds_are_written_as_json_wrote_them() -> None:
    values: list[Any] = [
        _Point(1, b"\xff"),
        _Point(2, b"", 1e-6),
        _Label("mx.example"),
        _Count(7),
        _Ratio(0.25),
        _Ratio(1e20),
        _Tiny.EPSILON,
        _Tiny.HALF,
        _Colour.RED,
        OrderedDict(a=1.5, b=[1e-5]),
        _Node(1.0, _Label("x"), child=_Node(1e-7)),
        _Node(0.5, child=_Node(0.25)),
        {"k": object()},  # not JSON: both refuse to write it
    ]
    for value in values:
        try:
            want = oracle.dumps(value)
        except TypeError:
            with pytest.raises(TypeError):
                factjson.dumps(value)
            continue
        assert factjson.dumps(value) == want, value
        assert factjson.to_plain(value) == oracle.to_plain(value), value
    assert factjson.to_plain(_Point(1, b"\xff")) == [1, "/w==", 0.5]
    assert factjson.dumps({"host": _Label("mx.example")}) == '{"host":"mx.example"}'


def test_floats_check_reads_hints_once_and_conservatively() -> None:
    assert factjson._float_fields(_Node) == ("weight", "tiny", "window", "child")
    assert factjson._float_fields(_Node) is factjson._float_fields(_Node)  # cached
    assert factjson._float_fields(DnsLookup) == ()
    assert factjson._float_fields(SmtpProbe) == ("started_at", "elapsed")
    assert factjson._float_fields(dict) is None
    assert not factjson._may_hold_float(Literal["a", 1])
    assert not factjson._may_hold_float(tuple[str, ...])
    assert factjson._may_hold_float(dict[str, tuple[SmtpProbe, ...]])
    assert not factjson._may_hold_float(_Colour)
    assert factjson._may_hold_float(object) and factjson._may_hold_float(typing.Any)
