"""Shared helpers for the quarantine tests: a private event log, policies, tree snapshots."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from vmguard.policy.model import Metadata, Policy, PromotePolicy, QuarantinePolicy

ELF = Path("/bin/true").read_bytes()


@pytest.fixture(scope="session", autouse=True)
def vet_log(tmp_path_factory) -> Path:
    """Every vet of this session logs here, never to the machine's own log."""
    path = tmp_path_factory.mktemp("log") / "events.jsonl"
    old = os.environ.get("VMGUARD_LOG")
    os.environ["VMGUARD_LOG"] = str(path)
    yield path
    if old is None:
        del os.environ["VMGUARD_LOG"]
    else:
        os.environ["VMGUARD_LOG"] = old


def rules(**kw) -> QuarantinePolicy:
    kw.setdefault("allow_types", ("text/plain", "application/json"))
    promote = kw.pop("promote", PromotePolicy())
    return QuarantinePolicy(promote=promote, **kw)


def policy(**kw) -> Policy:
    return Policy(metadata=Metadata("t"), source="t.yaml", quarantine=rules(**kw))


def write(path: Path | bytes, data: bytes | str = b"some text\n", mode: int = 0o644) -> None:
    path = os.fsencode(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)


def snapshot(root: Path) -> dict[bytes, tuple]:
    """Everything but atime about every entry under root, content hashes of small files."""
    seen = {}
    for top, dirs, files in os.walk(os.fsencode(root)):
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            digest = None
            if stat.S_ISREG(st.st_mode) and st.st_size < 1 << 20:
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            seen[path] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_size,
                st.st_nlink,
                st.st_mtime_ns,
                st.st_ctime_ns,
                st.st_ino,
                digest,
                tuple(sorted(os.listxattr(path, follow_symlinks=False))),
            )
    return seen


def published_files(out: Path) -> dict[str, bytes]:
    found = {}
    for top, _, files in os.walk(out):
        for name in files:
            path = Path(top, name)
            found[str(path.relative_to(out))] = path.read_bytes()
    return found
