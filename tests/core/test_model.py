"""The model's types behave as the frozen dataclasses they replaced (``dataclass_model``):
compared, hashed, pickled (tasks go to Dask workers), shown and matched alike."""

from __future__ import annotations

import copy
import gc
import pickle

import msgspec
import pytest

from scanner.core import model
from scanner.core.model import (
    DnsLookup,
    DnssecStatus,
    DomainFacts,
    DomainJudgement,
    Ede,
    Finding,
    HostJudgement,
    HostOutcome,
    MailOutcome,
    SmtpProbe,
    TlsaRecord,
    Verdict,
)
from tests.core import dataclass_model as old

MODEL_TYPES = [
    t for t in vars(model).values() if isinstance(t, type) and issubclass(t, msgspec.Struct)
]


def _lookup(**kw: object) -> DnsLookup:
    return DnsLookup("a.example", "MX", "NOERROR", records=("10 mx.example.",), **kw)  # type: ignore[arg-type]


def _judgement() -> DomainJudgement:
    host = HostJudgement(
        "mx.example",
        10,
        HostOutcome.AUTHENTICATED,
        True,
        DnssecStatus.SECURE,
        DnssecStatus.SECURE,
        "mx.example",
        1,
    )
    return DomainJudgement(
        "a.example",
        Verdict.DANE_VALID,
        MailOutcome.DELIVER_AUTHENTICATED,
        "",
        "",
        DnssecStatus.SECURE,
        (host,),
        (Finding("tlsa_ok", "mx.example"),),
        "1",
    )


def test_every_type_is_frozen_and_slotted_with_the_dataclass_fields() -> None:
    assert len(MODEL_TYPES) == 14
    for tp in MODEL_TYPES:
        twin = getattr(old, tp.__name__)
        assert tp.__struct_fields__ == tuple(twin.__dataclass_fields__)
        assert tp.__struct_config__.frozen and "__dict__" not in tp.__slots__
        assert tp.__match_args__ == twin.__match_args__
    lookup = _lookup()
    assert not hasattr(lookup, "__dict__")
    with pytest.raises(AttributeError):
        lookup.ttl = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        lookup.extra = 1  # type: ignore[attr-defined]


def test_values_compare_hash_show_and_pickle_as_dataclasses_did() -> None:
    values = [
        _lookup(ede=(Ede(6, "bogus"),)),
        TlsaRecord(3, 1, 1, b"\xab" * 32),
        SmtpProbe("mx.example", "192.0.2.1", "mx.example", model.ProbeStatus.OK, elapsed=1e-5),
        _judgement(),
    ]
    for value in values:
        twin = old.from_struct(value)
        assert repr(value) == repr(twin)
        assert value == copy.copy(value) == pickle.loads(pickle.dumps(value))
        assert hash(value) == hash(pickle.loads(pickle.dumps(value)))
        assert value != twin  # another type, as two dataclasses of different types
    assert _lookup() != _lookup(ad=True)
    assert len({_lookup(), _lookup(), _lookup(ttl=5)}) == 2
    assert _lookup(cname_chain=("b.example",)).final_name == "b.example"
    assert _lookup().final_name == "a.example"


def test_domain_facts_dicts_are_fresh_and_unhashable_as_before() -> None:
    a = DomainFacts("a.example", _lookup())
    b = DomainFacts("a.example", _lookup())
    assert a == b and a.hosts == {} and a.hosts is not b.hosts and a.probes is not b.probes
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(TypeError):
        hash(old.from_struct(a))


def test_replace_and_match() -> None:
    lookup = _lookup()
    changed = msgspec.structs.replace(lookup, ttl=60, ad=True)
    assert (changed.ttl, changed.ad, changed.records) == (60, True, lookup.records)
    match changed:
        case DnsLookup(name, "MX", rcode, ad=True):
            assert (name, rcode) == ("a.example", "NOERROR")
        case _:  # pragma: no cover - the case above matches
            raise AssertionError


def test_the_collector_does_not_track_them() -> None:
    # Facts are trees: untracked, millions of them cost the collector nothing.
    for tp in MODEL_TYPES:
        assert tp.__struct_config__.gc is False, tp.__name__
    facts = DomainFacts("a.example", _lookup(), hosts={})
    assert not gc.is_tracked(_lookup()) and not gc.is_tracked(facts)
