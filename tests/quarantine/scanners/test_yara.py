"""The yara engine: every shipped rule catches its files and none of the near misses,
hits name the rule and offset and keep the file in quarantine, site rules add to the
set, and a site rule file that does not compile is bad input (exit 2), located."""

from __future__ import annotations

import gzip
import io
import os
import re
import resource
import string
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import published_files, write
from tests.quarantine.scanners.conftest import yara_rules
from tests.quarantine.scanners.secrets import cases
from vmguard.core.errors import ExitCode
from vmguard.policy.model import YaraScanner
from vmguard.quarantine.model import Reason, Status, Verdict
from vmguard.quarantine.scanners import ScanError, unpack
from vmguard.quarantine.scanners import yara as yara_engine
from vmguard.quarantine.scanners.yara import READ_MAX, Yara, shipped_rules

ROOT = Path(__file__).parents[3]
CASES = cases()
SITE_RULE = 'rule site_marker\n{\n    strings: $a = "LAB-INTERNAL-ONLY"\n    condition: $a\n}\n'


@pytest.fixture(scope="module")
def engine() -> Yara:
    return Yara(YaraScanner())


def matched(engine: Yara, tmp_path: Path, data: bytes) -> set[str]:
    path = tmp_path / "sample"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        result = engine.submit(fd).result()
    finally:
        os.close(fd)
    assert result.failure is None
    return {hit.name for hit in result.hits}


def test_every_shipped_rule_has_cases_to_catch_and_near_misses():
    shipped = set(re.findall(r"^rule (\w+)", Path(shipped_rules()).read_text(), re.M))
    assert shipped == set(CASES)
    assert all(catch and miss for catch, miss in CASES.values())


@pytest.mark.parametrize("rule", sorted(CASES))
def test_shipped_rule_catches_its_files_and_no_rule_takes_a_near_miss(engine, tmp_path, rule):
    catch, miss = CASES[rule]
    for i, data in enumerate(catch):
        assert rule in matched(engine, tmp_path, data), f"{rule} missed case {i}"
    for i, data in enumerate(miss):
        assert matched(engine, tmp_path, data) == set(), f"near miss {i} of {rule} matched"


def test_a_secret_never_leaves_and_the_report_names_rule_and_offset(tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    key = CASES["ssh_private_key"][0][0]
    write(q / "logs" / "run.log", b"step 1 ok\n" + key)
    write(q / "clean.txt", "histogram 1 2 3\n")
    result = vmguard.vet(q, yara_rules(), pub / "run1")
    assert result.status is Status.REJECTED and result.exit_code == 1
    (entry,) = result.rejected
    assert entry.path == "logs/run.log" and entry.reasons == (Reason.SCANNER_FLAGGED,)
    assert entry.detail == "yara: ssh_private_key at offset 10"
    assert not (pub / "run1").exists()
    accepted = {e.path: e for e in result.accepted}
    assert accepted["clean.txt"].scanner == "yara: no rule matched"


def test_large_files_are_mapped_and_offsets_stay_exact(engine, tmp_path):
    key = CASES["pem_private_key"][0][1]
    offset = READ_MAX + 12345
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * offset + key + b"b" * 1000)
    fd = os.open(path, os.O_RDONLY)
    try:
        result = engine.submit(fd).result()
    finally:
        os.close(fd)
    assert [str(h) for h in result.hits] == [f"yara: pem_private_key at offset {offset}"]


def test_empty_files_are_scanned_and_pass(engine, tmp_path):
    assert matched(engine, tmp_path, b"") == set()


def test_site_rules_add_to_the_shipped_set(tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    site = tmp_path / "site.yar"
    site.write_text(SITE_RULE)
    write(q / "notes.txt", "public part\nLAB-INTERNAL-ONLY: do not publish\n")
    write(q / "key.txt", CASES["pem_private_key"][0][1])
    result = vmguard.vet(q, yara_rules(site), pub / "run1", per_file=True)
    details = {e.path: e.detail for e in result.rejected}
    assert details == {
        "notes.txt": "yara: site_marker at offset 12",
        "key.txt": "yara: pem_private_key at offset 0",
    }


def test_shipped_false_runs_only_the_site_rules(tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    site = tmp_path / "site.yar"
    site.write_text(SITE_RULE)
    write(q / "key.txt", CASES["pem_private_key"][0][1])
    result = vmguard.vet(q, yara_rules(site, shipped=False), pub / "run1")
    assert result.status is Status.PROMOTED
    assert [e.verdict for e in result.entries] == [Verdict.ACCEPTED]


def test_a_site_rule_with_a_syntax_error_is_bad_input_located(tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    write(q / "a.txt")
    site = tmp_path / "site.yar"
    site.write_text('rule broken\n{\n    strings: $a = "x"\n    condition: $a and\n}\n')
    with pytest.raises(ScanError) as err:
        vmguard.vet(q, yara_rules(site), pub / "run1")
    assert err.value.exit_code == ExitCode.BAD_INPUT
    assert str(err.value).startswith(f"{site}:5:1: yara: syntax error")
    assert os.listdir(pub / ".vmguard-staging") == ["run1.lock"]  # nothing was staged


def test_a_missing_site_rule_file_is_bad_input_located(tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    write(q / "a.txt")
    with pytest.raises(ScanError, match=f"^{tmp_path}/nope.yar:0:0: cannot read") as err:
        vmguard.vet(q, yara_rules(tmp_path / "nope.yar"), pub / "run1")
    assert err.value.exit_code == ExitCode.BAD_INPUT


def test_the_cli_reports_a_broken_site_rule_as_exit_2(tmp_path):
    write(tmp_path / "q" / "a.txt")
    (tmp_path / "pub").mkdir()
    site = tmp_path / "site.yar"
    site.write_text("rule broken { condition: nosuchthing }\n")
    (tmp_path / "p.yaml").write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: t}\nspec:\n  quarantine:\n"
        f"    allow_types: [text/plain]\n    scanners: {{yara: {{rules: [{site}]}}}}\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vmguard",
            "vet",
            str(tmp_path / "q"),
            "--policy",
            str(tmp_path / "p.yaml"),
            "--to",
            str(tmp_path / "pub" / "run1"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"{site}:1:1: spec.quarantine.scanners.yara.rules[0]: yara: undefined identifier "
        f'"nosuchthing" (named at {tmp_path}/p.yaml:7:31)\n'
    )
    assert published_files(tmp_path / "pub") == {}  # the policy is refused before the vet starts


def tar_of(**members: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def hits_of(engine: Yara, tmp_path: Path, data: bytes) -> list[str]:
    path = tmp_path / "sample"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        return [str(hit) for hit in engine.submit(fd).result().hits]
    finally:
        os.close(fd)


def test_secrets_inside_gzip_and_tar_are_found_each_inner_file_on_its_own(engine, tmp_path):
    key = CASES["ssh_private_key"][0][0]
    keytab = CASES["kerberos_keytab"][0][0]  # a rule about the file's first bytes
    assert hits_of(engine, tmp_path, gzip.compress(b"log\n" + key)) == [
        "yara: ssh_private_key in gzip at offset 4"
    ]
    archive = tar_of(**{"logs/run.log": b"fine\n", "krb5.keytab": keytab, "deep.gz": gzip.compress(key)})
    assert sorted(hits_of(engine, tmp_path, gzip.compress(archive))) == [
        "yara: kerberos_keytab in gzip:tar:krb5.keytab at offset 0",
        "yara: ssh_private_key in gzip:tar:deep.gz:gzip at offset 0",
    ]
    # the raw tar also holds the keytab as bytes: kerberos_keytab_embedded names it at its offset
    assert "yara: kerberos_keytab in tar:krb5.keytab at offset 0" in hits_of(engine, tmp_path, archive)
    # control: the same containers with harmless content
    assert hits_of(engine, tmp_path, gzip.compress(tar_of(a=b"x" * 100_000, b=b"fine\n"))) == []


def test_a_gzipped_secret_never_leaves_through_vet(tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    pub.mkdir()
    write(q / "out.txt.gz", gzip.compress(b"events 42\n" + CASES["pem_private_key"][0][1]))
    write(q / "clean.txt.gz", gzip.compress(b"events 42\n"))  # control
    result = vmguard.vet(q, yara_rules(allow_types=("text", "gzip")), pub / "run1", per_file=True)
    assert {e.path: e.detail for e in result.rejected} == {
        "out.txt.gz": "yara: pem_private_key in gzip at offset 10"
    }
    assert list(published_files(pub / "run1")) == ["clean.txt.gz"]


@pytest.mark.parametrize("overlap", [unpack.OVERLAP, 8], ids=["overlap", "control-no-overlap"])
def test_a_secret_across_a_window_boundary_is_found(engine, tmp_path, monkeypatch, overlap):
    monkeypatch.setattr(unpack, "WINDOW", 4096)
    monkeypatch.setattr(unpack, "OVERLAP", min(overlap, 2048))
    key = b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
    data = gzip.compress(b"a" * (4096 - 20) + key + b"b" * 5000)
    found = hits_of(engine, tmp_path, data)
    if overlap == 8:  # the window cuts the header in two: what the overlap is for
        assert found == []
    else:
        assert found == [f"yara: ssh_private_key in gzip at offset {4096 - 20}"]


def test_a_secret_across_the_read_or_map_size_is_found(engine, tmp_path):
    key = CASES["pem_private_key"][0][1]
    for size in (READ_MAX - 10, READ_MAX + 10):  # read whole, and mapped
        data = b"a" * (size - len(key) // 2) + key
        assert hits_of(engine, tmp_path, data) == [f"yara: pem_private_key at offset {size - len(key) // 2}"]


def _text(data: bytes) -> str | None:
    """A catch case that is plain text (not binary, not a key in base64: two encodings
    deep, base64 in UTF-16 is not looked for)."""
    text = data.decode("latin-1")
    encoded = b"BEGIN" not in data and re.search(rb"[A-Za-z0-9+/]{40,}", data) is not None
    plain = all(c in string.printable for c in text) and not encoded
    return text if plain else None


@pytest.mark.parametrize("rule", sorted(CASES))
def test_text_secrets_are_caught_in_utf16_too_and_near_misses_still_pass(engine, tmp_path, rule):
    """The text type admits UTF-16 (with a BOM): a key written by a Windows tool, or by
    a guest that wants it out, is the same secret."""
    catch, miss = CASES[rule]
    texts = [t for t in map(_text, catch) if t is not None]
    for text in texts:
        for encoding in ("utf-16", "utf-16-be"):
            assert rule in matched(engine, tmp_path, text.encode(encoding)), f"{rule} missed {encoding}"
    for text in filter(None, map(_text, miss)):
        assert matched(engine, tmp_path, text.encode("utf-16")) == set(), f"{rule} near miss in UTF-16"


def test_tar_headers_are_read_in_bounded_memory_and_long_names_still_scanned(engine, tmp_path):
    key = CASES["pem_private_key"][0][1]
    long_name = "d/" + "n" * 150 + ".pem"  # a pax header first (the name does not fit ustar's)
    found = hits_of(engine, tmp_path, gzip.compress(tar_of(**{long_name: key})))
    assert len(found) == 1 and found[0].startswith("yara: pem_private_key in gzip:tar:")
    # a pax header claiming 2 GiB, inflated from a few KiB: passed over, never read into memory
    header = bytearray(tar_of(x=b""))[:512]
    header[124:136], header[156:157] = b"%011o\0" % (2 << 30), b"x"
    header[148:156] = b"%06o\0 " % (sum(header[:148]) + 8 * 32 + sum(header[156:]))
    deflate, zero = zlib.compressobj(wbits=31), bytes(1 << 20)
    data = (
        deflate.compress(bytes(header))
        + b"".join(deflate.compress(zero) for _ in range(300))
        + deflate.flush()
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert hits_of(engine, tmp_path, data) == []  # 300 MiB behind the header: tarfile held them all
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 << 10  # KiB


def test_the_timeout_bounds_a_whole_inner_scan(tmp_path, monkeypatch):
    """A gzip that inflates for long (each window fast, too many of them) is scanner-failed
    once `timeout` is spent; a clock that does not run out is the control."""
    engine = Yara(YaraScanner(timeout=2))
    path = tmp_path / "slow.gz"
    path.write_bytes(gzip.compress(b"harmless line\n" * 200_000))
    monkeypatch.setattr(unpack, "WINDOW", 64 << 10)
    monkeypatch.setattr(unpack, "OVERLAP", 1 << 10)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert engine.submit(fd).result().failure is None  # control: the real clock
        clock = iter(range(0, 10_000, 1))  # one second per window
        monkeypatch.setattr(yara_engine.time, "monotonic", lambda: next(clock))
        result = engine.submit(fd).result()
    finally:
        os.close(fd)
    assert result.failure == "timed out after 2s" and result.hits == ()
