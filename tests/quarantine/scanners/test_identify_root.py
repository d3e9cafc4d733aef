"""ROOT identification needs ROOT's binary header, not only its magic (issue #20): a text file
that starts with "root" (a shadow line, a log line) was typed ROOT and rejected as
invalid-format, so the secret rules never named it and real logs were refused."""

from __future__ import annotations

import struct

import pytest

import vmguard
from tests.quarantine.conftest import rules, write
from vmguard.quarantine.model import Status
from vmguard.quarantine.validators import own_type

uproot = pytest.importorskip("uproot")


@pytest.mark.parametrize(
    "head",
    [
        b"root:$6$Xk9fL2pQ$1nUu0jXZ6Y3yP0gk2b8M5.:19700:0:99999:7:::\n",
        b"root cause: the disk was full\n",
        b"root\n",
        b"root" + struct.pack(">ii", 62206, 0) + bytes(40),  # fBEGIN 0: no record can start there
        b"root" + struct.pack(">ii", 0, 100) + bytes(40),  # version 0
    ],
)
def test_text_or_a_bare_magic_is_not_root(head):
    assert own_type(head) != "application/x-root"


def test_real_root_files_are_still_root(tmp_path):
    """Control: what uproot writes, small and large-file header, is ROOT."""
    with uproot.recreate(tmp_path / "a.root") as fh:
        fh["note"] = "x"
    head = (tmp_path / "a.root").read_bytes()[:64]
    assert own_type(head) == "application/x-root"
    large = head[:4] + struct.pack(">i", 1000000 + struct.unpack_from(">i", head, 4)[0]) + head[8:]
    assert own_type(large) == "application/x-root"


def test_a_log_starting_with_root_is_published_as_text(tmp_path):
    """Through vet: the log line passes as text (it was rejected as a broken ROOT file)."""
    q, pub = tmp_path / "q", tmp_path / "pub"
    write(q / "why.log", b"root cause: the disk was full\n")
    pub.mkdir()
    result = vmguard.vet(q, rules(allow_types=("text/plain", "application/x-root")), pub / "run1")
    assert result.status is Status.PROMOTED, result
    assert (pub / "run1" / "why.log").read_bytes() == b"root cause: the disk was full\n"
