"""Facts JSON: the msgspec ``scanner.core.factjson`` against the hand-written one it replaced.

Reads every ``facts`` value of the ``domains``, ``hosts`` and ``addresses`` tables of one or
more stored scans, decodes them into the model's types and times, per table, what a
scan and a regrade do with them: write (``domains``: ``to_plain`` of the typed parts, then
``dumps`` of the dict, as ``scanner.store.rows.domain_row`` does; ``hosts``/``addresses``:
``dumps`` of a ``HostDns``/``SmtpProbe``) and read (``loads`` / ``from_plain``). The old
code is the tests' oracle (``tests/core/factjson_oracle.py``); every output is checked to
be identical before anything is timed.

    .venv/bin/python bench/bench_factjson.py SCAN_DIR [SCAN_DIR ...] [--repeat 5]

Prints a Markdown table (best of ``--repeat`` passes over all values, µs per value).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner.core import factjson
from scanner.core.model import DnsLookup, HostDns, MtaSts, SmtpProbe, ZoneKeys
from tests.core import factjson_oracle as oracle

TABLES = ("domains", "hosts", "addresses")
DOMAIN_PARTS: dict[str, Any] = {
    "mx": DnsLookup,
    "zone_keys": ZoneKeys | None,
    "mta_sts": MtaSts | None,
}
TYPES: dict[str, Any] = {"hosts": HostDns, "addresses": SmtpProbe}


def stored_facts(scan: Path, table: str) -> list[str]:
    """Every facts value of ``table`` in a scan directory, whatever its file layout."""
    out: list[str] = []
    for path in sorted(scan.rglob("*.parquet")):
        if table in path.relative_to(scan).parts and "facts" in pq.read_schema(path).names:
            out += pq.read_table(path, columns=["facts"]).column("facts").to_pylist()
    return out


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def domain_parts(impl: Any, texts: list[str]) -> list[dict[str, Any]]:
    """The domains' facts as rows.domain_row holds them before ``dumps``: typed parts."""
    out = []
    for text in texts:
        plain = json.loads(text)
        out.append(
            {
                k: impl.from_plain(DOMAIN_PARTS[k], v) if k in DOMAIN_PARTS else v
                for k, v in plain.items()
            }
        )
    return out


def write_domain(impl: Any, parts: dict[str, Any]) -> str:
    text: str = impl.dumps(
        {k: impl.to_plain(v) if k in DOMAIN_PARTS else v for k, v in parts.items()}
    )
    return text


def read_domain(impl: Any, text: str) -> dict[str, Any]:
    plain = json.loads(text)
    return {
        k: impl.from_plain(DOMAIN_PARTS[k], v) if k in DOMAIN_PARTS else v for k, v in plain.items()
    }


def write_domains(impl: Any, values: list[dict[str, Any]]) -> None:
    for v in values:
        write_domain(impl, v)


def read_domains(impl: Any, texts: list[str]) -> None:
    for t in texts:
        read_domain(impl, t)


def write_facts(impl: Any, values: list[Any]) -> None:
    for v in values:
        impl.dumps(v)


def read_facts(impl: Any, texts: list[str], tp: Any) -> None:
    for t in texts:
        impl.loads(tp, t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scans", nargs="+", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for table in TABLES:
        texts = [t for scan in args.scans for t in stored_facts(scan, table)]
        if not texts:
            continue
        size = sum(map(len, texts))
        works: list[tuple[str, Callable[[Any], None]]]
        if table == "domains":
            values = domain_parts(factjson, texts)
            assert values == domain_parts(oracle, texts)
            assert [write_domain(factjson, v) for v in values] == texts
            assert [write_domain(oracle, v) for v in values] == texts
            # What domain_row could do instead: the typed parts straight to dumps (same text).
            assert [factjson.dumps(v) for v in values] == texts
            works = [
                ("write", partial(write_domains, values=values)),
                ("write, typed parts to dumps", partial(write_facts, values=values)),
                ("read", partial(read_domains, texts=texts)),
            ]
        else:
            tp = TYPES[table]
            facts = [factjson.loads(tp, t) for t in texts]
            assert facts == [oracle.loads(tp, t) for t in texts]
            assert [factjson.dumps(v) for v in facts] == texts
            assert [oracle.dumps(v) for v in facts] == texts
            works = [
                ("write", partial(write_facts, values=facts)),
                ("read", partial(read_facts, texts=texts, tp=tp)),
            ]

        n = len(texts)
        for what, fn in works:
            old = best(partial(fn, oracle), args.repeat) / n * 1e6
            new = best(partial(fn, factjson), args.repeat) / n * 1e6
            rows.append((table, what, n, size / n, old, new))
    print(
        f"`.venv/bin/python bench/bench_factjson.py {' '.join(map(str, args.scans))}`, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
        f"best of {args.repeat} passes; output checked identical first\n"
    )
    print("| table | work | values | mean bytes | hand-written µs | msgspec µs | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for table, what, n, mean, old, new in rows:
        cells = f"{n} | {mean:,.0f} | {old:.1f} | {new:.1f} | {old / new:.1f}×"
        print(f"| {table}.facts | {what} | {cells} |")


if __name__ == "__main__":
    main()
