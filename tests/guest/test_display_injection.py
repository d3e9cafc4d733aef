"""A guest that writes escape sequences into its account and package names (issue #24).

One small Debian-like image, built here and shared by the module, holds accounts whose
names carry ESC, C1 and bidi sequences (OSC 52 clipboard write, OSC 8 link, OSC 0
title, CSI clear screen) and packages whose versions do. `vmguard audit --guest
offline` on a libvirt VM with that disk must print and write them inert, one finding
per line and per table row, while report.json carries them exactly.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from unittest import mock

import pytest

from tests.guest import images
from tests.guest.test_audit_pipeline import DISK_XML, GUEST_POLICY, INVENTORY
from tests.support.hostile_text import (
    assert_inert,
    assert_no_links,
    bad_characters,
    body_rows,
    headings,
    markdown_tokens,
    run_cli,
)
from vmguard.cli import main
from vmguard.core.display import shown

pytestmark = [pytest.mark.root, pytest.mark.slow]

# Line separators (CR, LF, U+2028, ...) cannot be inside a passwd or dpkg field: the
# readers split lines on them. Everything else a terminal acts on can.
USERS = (
    "clip\x1b]52;c;ZXZpbA==\x07board",
    "link\x1b]8;;//evil.example/\x1b\\here\x1b]8;;\x1b\\",  # no ":" (a passwd field)
    "title\x1b]0;root@host\x07",
    "wipe\x1b[2J\x1b[H\x9b2J",
    "evil\u202egpj.exe",
    "zero\u200bwidth\u2066",
)
VERSIONS = {
    "firefox-esr": "115.6\x1b]52;c;Zm9v\x07-1",
    "exim4-daemon-light": "4.96\u202e\x9d0;t\x9c-15",
    "openssh-server": "1:9.2p1\x1b[31m-2",
}


@pytest.fixture(scope="module")
def hostile_guest_image(tmp_path_factory, libguestfs_tcg) -> Path:
    work = tmp_path_factory.mktemp("hostile-names")
    root = images.dpkg_root(work / "root")
    hashed = f"{images.HASH}:19000:0:99999:7:::"
    with (root / "etc/passwd").open("a") as f:
        f.writelines(f"{u}:x:{600 + i}:600::/home/u{i}:/bin/bash\n" for i, u in enumerate(USERS))
    with (root / "etc/shadow").open("a") as f:
        f.writelines(f"{u}:{hashed}\n" for u in USERS)
    status = root / "var/lib/dpkg/status"
    text = status.read_text()
    for package, version in VERSIONS.items():
        stanza = text.index(f"Package: {package}\n")
        start = text.index("Version: ", stanza) + len("Version: ")
        text = text[:start] + version + text[text.index("\n", start) :]
    status.write_text(text)
    return images.ext4_image(root, work / "hostile-names.img", size_mib=32)


def test_audit_guest_offline_shows_hostile_guest_strings_inert(
    tcg_domain, hostile_guest_image, tmp_path, monkeypatch
):
    domain = tcg_domain.define(extra_devices=DISK_XML.format(path=hostile_guest_image))
    monkeypatch.setenv("VMGUARD_CACHE", str(hostile_guest_image.parent / "cache"))
    (tmp_path / "policy.yaml").write_text(GUEST_POLICY.format(file_scan=""))
    (tmp_path / "inv.yaml").write_text(INVENTORY.format(name=domain.name))
    out = tmp_path / "reports"
    argv = ["audit", "-i", str(tmp_path / "inv.yaml"), "--out", str(out), "--guest", "offline"]
    with mock.patch("vmguard.cli.safe_streams", contextlib.nullcontext):  # print paths alone
        code, stdout, stderr = run_cli(main, argv)
    assert code == 1, stderr
    assert_inert(stdout + stderr)
    report = json.loads((out / "latest/report.json").read_text())
    [vm] = [v for v in report["vms"] if v["name"] == domain.name]
    messages = [f["message"] for f in vm["findings"]]
    for hostile in (*USERS, VERSIONS["firefox-esr"]):  # JSON: the exact strings
        assert any(hostile in m for m in messages), (hostile, messages)
        assert bad_characters(hostile)  # a control: each would fail the check raw
    logins = [m for m in messages if m.startswith(tuple(USERS))]
    assert len(logins) == len(USERS)
    failing = report["summary"]["failing"]
    assert len(stdout.splitlines()) == 4 + min(5, failing)
    md = (out / "latest/report.md").read_text()
    assert_inert(md)
    tokens = markdown_tokens(md)
    assert_no_links(md, tokens)
    assert len(headings(tokens)) == 2 + len(report["vms"])
    assert body_rows(tokens) == sum(len(v["findings"]) for v in report["vms"]) + len(
        report["host"]["findings"]
    )
    html = (out / "latest/report.html").read_text()
    assert_inert(html)
    for hostile in USERS:
        assert shown(hostile).replace("&", "&amp;").replace("<", "&lt;") in html  # shown, escaped
