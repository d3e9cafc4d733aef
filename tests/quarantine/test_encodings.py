"""Text encodings are a policy setting (`text_encodings`, default UTF-8 and UTF-16 with a
byte order mark; Latin-1 opt-in): a log in an encoding the policy does not list is
refused naming the setting, one it lists passes byte for byte, and the control
characters stay limited in every encoding."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.core.errors import PolicyError
from vmguard.policy.loader import load_policy
from vmguard.policy.model import TextEncoding
from vmguard.quarantine.model import Reason, Verdict

LINES = "".join(f"2026-12-03 run {i} Temperatur 21,{i % 10} \u00b0C, \u00e9t\u00e9 ok\n" for i in range(2000))
FILES = {
    "utf8.log": LINES.encode(),
    "utf16le.log": LINES.encode("utf-16"),  # BOM first (little-endian here)
    "utf16be.log": b"\xfe\xff" + LINES.encode("utf-16-be"),
    "latin1.log": LINES.encode("latin-1"),
    "latin1.csv": "a;b\n\u00e9;1\n".encode("latin-1") * 300,
    "latin1-c1.log": LINES.encode("latin-1") + b"\x9b31m red\n",  # CSI as a C1 byte
    "latin1-esc.log": LINES.encode("latin-1") + b"\x1b[31m red\n",
    "utf16-nobom.log": LINES.encode("utf-16-le"),
}


def test_the_default_admits_utf8_and_utf16_and_refuses_latin1_naming_the_setting(tmp_path):
    entries, _ = vet_files(tmp_path, FILES, shipped("batch.yaml"))
    for name in ("utf8.log", "utf16le.log", "utf16be.log"):
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
        assert (tmp_path / "pub" / "run1" / name).read_bytes() == FILES[name]
    for name in ("latin1.log", "latin1.csv"):
        assert entries[name].reasons == (Reason.TYPE_NOT_ALLOWED,), entries[name]
        assert "text in latin-1; the policy's text_encodings allows utf-8, utf-16" in entries[name].detail
    for name in ("latin1-c1.log", "latin1-esc.log", "utf16-nobom.log"):
        assert entries[name].verdict is Verdict.REJECTED, entries[name]


def test_latin1_is_opt_in_and_controls_stay_refused(tmp_path):
    rules = shipped("batch.yaml", text_encodings=(TextEncoding.UTF8, TextEncoding.LATIN1))
    entries, _ = vet_files(tmp_path, FILES, rules)
    for name in ("utf8.log", "latin1.log", "latin1.csv"):
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]
        assert (tmp_path / "pub" / "run1" / name).read_bytes() == FILES[name]
    assert "U+009B" in entries["latin1-c1.log"].detail
    assert "U+001B" in entries["latin1-esc.log"].detail
    assert entries["utf16le.log"].reasons == (Reason.TYPE_NOT_ALLOWED,)  # not listed now
    assert "text in utf-16" in entries["utf16le.log"].detail


def test_inner_text_of_a_gzip_is_held_to_the_same_setting(tmp_path):
    files = {"l.log.gz": gzip.compress(FILES["latin1.log"]), "u.log.gz": gzip.compress(FILES["utf8.log"])}
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml"))
    assert entries["u.log.gz"].verdict is Verdict.ACCEPTED
    assert entries["l.log.gz"].reasons == (Reason.TYPE_NOT_ALLOWED,)
    assert "text in latin-1" in entries["l.log.gz"].detail


def test_the_setting_is_read_from_yaml_and_checked(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: e}\nspec:\n"
        "  quarantine:\n    text_encodings: [utf-8, latin-1]\n"
    )
    assert load_policy(path).quarantine.text_encodings == (TextEncoding.UTF8, TextEncoding.LATIN1)
    path.write_text(path.read_text().replace("latin-1", "cp1252"))
    with pytest.raises(PolicyError, match="text_encodings"):
        load_policy(path)
    shipped_default = load_policy(Path(__file__).resolve().parents[2] / "policy" / "batch.yaml")
    assert shipped_default.quarantine.text_encodings == (TextEncoding.UTF8, TextEncoding.UTF16)
