"""Nothing lost (issue 13): hostile input, bad options and output locations, a full disk,
regrading a running or damaged scan, and memory that does not grow with the input.

Each test names the failure it guards against; every one of them failed on the code
before the staged scan (a traceback, exit 1, a silently dropped opt-out, or a
directory left behind that blocked the corrected command).
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.errors import DanescanError
from scanner.runs.regrade import RegradeError, regrade
from scanner.runs.scan import Scan, ScanConfig, ScanError
from scanner.runs.wiring import OptionError
from scanner.store.inputs import InputError, iter_input
from tests.runs.fakes import World, options

ROOT = Path(__file__).resolve().parents[2]


def rows(out: Path, table: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for part in sorted((out / table).glob("**/part-*.parquet")):
        found += pq.read_table(part).to_pylist()
    return found


def scan(inp: Path, out: Path, world: World, **gather: object) -> None:
    config = ScanConfig(input=str(inp), out=str(out), gather=options(**gather), partitions=3)
    Scan(config, world.seams()).run()


# -- input -----------------------------------------------------------------------------


def test_csv_with_carriage_returns_and_odd_ranks_scans_every_line(tmp_path: Path) -> None:
    world = World(4)
    a, b, c, d = world.names()
    # CR-only line ends, a superscript rank (isdigit() but not int()), a quoted field
    # that never closes (csv reads it leniently): none of them may stop the scan.
    data = f'rank,domain\r1,{a}\r\u00b9,{b}\r3,"{c}\r4,{d}\r'.encode()
    inp = tmp_path / "in.csv"
    inp.write_bytes(data)
    out = tmp_path / "scan"
    scan(inp, out, world, probe=False)
    got = {r["domain"]: r["rank"] for r in rows(out, "domains")}
    assert got == {a: 1, b: None, c: 3, d: 4}
    assert rows(out, "invalid_inputs") == []


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("a.example\nb.example\n".encode("utf-16"), "UTF-16"),
        (b"# nothing but comments\n\n", "no valid domain name"),
        (b"not a domain\n-also.bad\n", "no valid domain name"),
    ],
)
def test_an_input_without_domains_is_an_error_and_leaves_nothing(
    tmp_path: Path, data: bytes, needle: str
) -> None:
    inp = tmp_path / "in.txt"
    inp.write_bytes(data)
    out = tmp_path / "scan"
    with pytest.raises(DanescanError, match=needle):
        scan(inp, out, World(1), probe=False)
    assert not out.exists()


def test_a_directory_as_input_says_so(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="is a directory"):
        scan(tmp_path, tmp_path / "scan", World(1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000), st.integers(1, 64))
def test_the_input_reader_accounts_for_every_line(data: bytes, chunk: int) -> None:
    import io

    class Chunky(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(min(chunk, size if size and size > 0 else chunk))

    try:
        lines = list(iter_input(Chunky(data)))
    except InputError:
        return  # refused as a whole (UTF-16/32, binary), before any line is used
    numbers = [line.line_no for line in lines]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for line in lines:
        assert (line.domain is None) == bool(line.reason)
        assert len(line.raw) <= 4096 or line.reason == "line_too_long"
    # The same bytes read in one piece give the same lines (chunking is invisible).
    assert lines == list(iter_input(io.BytesIO(data)))


# -- options and the output location ---------------------------------------------------


def test_a_typo_in_the_opt_out_list_refuses_the_scan(tmp_path: Path) -> None:
    blocklist = tmp_path / "optout.txt"
    blocklist.write_text("192.0.2.0/24\n127.25.0.10/33\nexample..com\n")
    inp = tmp_path / "in.txt"
    inp.write_text("a.example\n")
    with pytest.raises(OptionError, match=r"line 2: '127.25.0.10/33'.*\(and 1 more\)"):
        scan(inp, tmp_path / "scan", World(1), blocklist=blocklist)
    assert not (tmp_path / "scan").exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--ehlo-name", "bad name"], "not a host name"),
        (["--qps", "0"], "--qps"),
        (["--mta-sts-ca", "{not_pem}"], "--mta-sts-ca"),
        (["--blocklist", "{latin1}"], "--blocklist"),
        (["--out", "{a_file}"], "exists and is not a directory"),
        (["--out", "/proc/1/danescan-test"], "cannot write to"),
        (["--shard", "2/2"], "K/N"),
    ],
)
def test_usage_errors_are_one_line_exit_2_and_leave_nothing(
    tmp_path: Path, extra: list[str], needle: str
) -> None:
    inp = tmp_path / "in.txt"
    inp.write_text("a.example\n")
    not_pem = tmp_path / "roots.pem"
    not_pem.write_text("this is not PEM\n")
    latin1 = tmp_path / "optout.txt"
    latin1.write_bytes("caf\xe9.example\n".encode("latin-1"))
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    names = {"{not_pem}": str(not_pem), "{latin1}": str(latin1), "{a_file}": str(a_file)}
    extra = [names.get(x, x) for x in extra]
    out = tmp_path / "scan"
    args = ["scan", str(inp), "--out", str(out), "--resolver", "127.0.0.1:9", "--no-progress"]
    if "--out" in extra:
        args = args[:2] + args[4:]  # the parametrised --out replaces the default one
    got = _cli(*args, *extra)
    assert got.returncode == 2, got.stderr
    assert needle in got.stderr, got.stderr
    assert "Traceback" not in got.stderr
    assert not out.exists()


def test_a_full_disk_says_how_to_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.store import objstore

    world = World(12)
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(world.names()) + "\n")
    out = tmp_path / "scan"
    real = objstore.Store.open_output
    calls = {"n": 0}

    def filling(self: objstore.Store, *parts: str):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if "hostdns" in "/".join(parts):  # the disk fills during the host stage
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *parts)

    monkeypatch.setattr(objstore.Store, "open_output", filling)
    with pytest.raises(ScanError, match=r"disk full .* --resume --out"):
        scan(inp, out, world, probe=False)
    assert json.loads((out / "scan.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(objstore.Store, "open_output", real)
    config = ScanConfig(
        input=str(inp), out=str(out), gather=options(probe=False), partitions=3, resume=True
    )
    Scan(config, world.seams()).run()
    assert sorted(r["domain"] for r in rows(out, "domains")) == world.names()


def test_the_set_up_scripts_stop_nothing_by_name() -> None:
    for script in (ROOT / "scripts").iterdir():
        text = script.read_text()
        assert "pkill" not in text and "killall" not in text, script.name


# -- regrade -----------------------------------------------------------------------------


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    world = World(10)
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(world.names()) + "\n")
    out = tmp_path / "stored"
    scan(inp, out, world)
    return out


def test_regrade_refuses_a_scan_that_is_not_complete(stored: Path, tmp_path: Path) -> None:
    state = json.loads((stored / "scan.json").read_text())
    (stored / "scan.json").write_text(json.dumps({**state, "status": "running"}))
    before = sorted(p.stat().st_mtime_ns for p in stored.rglob("*") if p.is_file())
    with pytest.raises(RegradeError, match="is running, not complete"):
        regrade(str(stored), str(tmp_path / "new"))
    after = sorted(p.stat().st_mtime_ns for p in stored.rglob("*") if p.is_file())
    assert before == after  # the stored scan was only read
    assert not (tmp_path / "new").exists()


def _damage(stored: Path, table: str, mutate: object) -> None:
    import pyarrow as pa

    (part,) = list((stored / table).glob("**/part-*.parquet"))
    data = pq.read_table(part)
    facts = [mutate(text) for text in data.column("facts").to_pylist()]  # type: ignore[operator]
    data = data.set_column(data.schema.get_field_index("facts"), "facts", pa.array(facts))
    pq.write_table(data, part)


@pytest.mark.parametrize("table", ["domains", "hosts", "addresses"])
def test_malformed_stored_facts_end_in_one_regrade_error(
    stored: Path, tmp_path: Path, table: str
) -> None:
    _damage(stored, table, lambda text: text.replace('"', "'", 3))
    with pytest.raises(RegradeError, match="cannot"):
        regrade(str(stored), str(tmp_path / "new"))
    assert not any((tmp_path / "new").glob("*/**/*.parquet"))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    table=st.sampled_from(["domains", "hosts", "addresses"]),
    cut=st.integers(0, 400),
    junk=st.text(max_size=8),
)
def test_regrade_over_mutated_facts_succeeds_or_says_why(
    stored: Path, tmp_path_factory: pytest.TempPathFactory, table: str, cut: int, junk: str
) -> None:
    copy = tmp_path_factory.mktemp("copy")
    subprocess.run(["cp", "-a", f"{stored}/.", str(copy)], check=True)
    _damage(copy, table, lambda text: text[:cut] + junk + text[cut + len(junk) :])
    target = tmp_path_factory.mktemp("out") / "new"
    try:
        regrade(str(copy), str(target))
    except RegradeError:
        assert not any(target.glob("*/**/*.parquet"))
        return
    assert rows(target, "domains")


# -- memory ------------------------------------------------------------------------------


def test_memory_does_not_grow_with_duplicate_and_invalid_lines(tmp_path: Path) -> None:
    """Peak RSS of a scan of 1 domain repeated 300,000 times plus 100,000 invalid lines
    stays within a small margin of a scan of the one domain."""
    script = textwrap.dedent(
        """
        import resource, sys
        from scanner.runs.scan import Scan, ScanConfig
        from tests.runs.fakes import World, options
        world = World(1)
        config = ScanConfig(input=sys.argv[1], out=sys.argv[2], gather=options(probe=False),
                            partitions=2, spool_rows=20_000)
        Scan(config, world.seams()).run()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )

    def peak(lines: list[str], name: str) -> int:
        inp = tmp_path / f"{name}.txt"
        inp.write_text("\n".join(lines) + "\n")
        got = subprocess.run(
            [sys.executable, "-c", script, str(inp), str(tmp_path / name)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return int(got.stdout.split()[-1])

    domain = World.domain(0)
    small = peak([domain], "small")
    big = peak([domain] * 300_000 + ["not a domain"] * 100_000, "big")
    assert big - small < 60 * 1024, (small, big)  # KiB
    invalid = rows(tmp_path / "big", "invalid_inputs")
    assert len(invalid) == 399_999  # every duplicate and invalid line recorded
