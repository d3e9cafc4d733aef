"""Sparse files: copied with holes where their bytes are zero (the same bytes and hash, no
more blocks, a hole map that is the bytes' and never the guest's), or refused by
`sparse_files: refuse`; never expanded silently."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import rules, write
from tests.quarantine.test_races import at, entry
from tests.support.attack_dfs_tools import hole_map, punch
from tests.support.require import require_root
from vmguard.core.errors import VetError
from vmguard.policy.model import SparseFiles
from vmguard.quarantine import holes, hooks
from vmguard.quarantine.model import Reason, Status

MIB = 1 << 20
TYPES = ("application/octet-stream", "text/plain")
HEAD_ONLY = ("application/octet-stream",)  # no validator reads arbitrary bytes


def sparse(path: Path, size: int, data: dict[int, bytes]) -> bytes:
    """A file of `size` bytes with data only at the given offsets; returns its bytes."""
    os.makedirs(path.parent, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)
        for offset, chunk in data.items():
            fh.seek(offset)
            fh.write(chunk)
    content = path.read_bytes()
    assert os.stat(path).st_blocks * 512 < size // 4, "the filesystem keeps holes"
    return content


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


@pytest.fixture
def q(tmp_path):
    yield tmp_path / "q"
    hooks.set_hook(None)


@pytest.mark.parametrize(
    "layout",
    [
        {0: b"\0vmguard" * 512, 40 * MIB: b"middle" * 5000},  # data, hole, data, hole
        {30 * MIB: b"only in the middle\n"},  # leading and trailing holes
        {64 * MIB - 5: b"tail!"},  # one hole, then data to the end
    ],
    ids=["holes-between", "data-in-the-middle", "data-at-the-end"],
)
def test_a_sparse_file_is_published_with_its_holes(q, tmp_path, layout):
    content = sparse(q / "big.bin", 64 * MIB, layout)
    write(q / "small.txt", "text\n")
    result = vmguard.vet(
        q, rules(allow_types=TYPES, head_only=HEAD_ONLY, max_file_size=1 << 30), tmp_path / "pub" / "j"
    )
    assert result.status is Status.PROMOTED
    out = tmp_path / "pub" / "j" / "big.bin"
    assert out.read_bytes() == content
    assert allocated(out) <= allocated(q / "big.bin") + 8 * MIB  # not expanded
    digest = hashlib.sha256(content).hexdigest()
    assert entry(result, "big.bin").sha256 == digest
    manifest = json.loads((tmp_path / "pub" / "j.manifest.json").read_text())
    assert {e["path"]: e["sha256"] for e in manifest["entries"]}["big.bin"] == digest


def zero_blocks(content: bytes, block: int = 4096) -> list[int]:
    """1 for each whole block of `content` that is all zeros: the hole map its bytes give."""
    return [int(not any(content[i : i + block])) for i in range(0, len(content) - block + 1, block)]


@pytest.mark.parametrize("size", [3 * MIB + 100, 200 * 1024 + 7], ids=["chunked", "whole"])
def test_the_published_hole_map_is_a_function_of_the_bytes(q, tmp_path, size):
    """The same bytes written dense, and punched by two different patterns (only blocks of
    zeros punched: no byte differs), publish the same hole map: the aligned 4 KiB blocks of
    zeros, never the guest's map (a covert channel of 1 bit per 4 KiB of zeros)."""
    rng = random.Random(size)
    content = b"".join(
        bytes(4096) if rng.random() < 0.5 else rng.randbytes(4096) for _ in range(-(-size // 4096))
    )[:size]
    zeros = [i for i, bit in enumerate(zero_blocks(content)) if bit]
    write(q / "dense.bin", content)
    for name, keep in (("odd.bin", 1), ("even.bin", 0)):
        write(q / name, content)
        punch(q / name, [i for i in zeros if i % 2 == keep])
    assert hole_map(q / "odd.bin") != hole_map(q / "even.bin")  # the filesystem keeps holes
    result = vmguard.vet(q, rules(allow_types=TYPES, head_only=HEAD_ONLY), tmp_path / "pub" / "j")
    assert result.status is Status.PROMOTED
    for name in ("dense.bin", "odd.bin", "even.bin"):
        out = tmp_path / "pub" / "j" / name
        assert out.read_bytes() == content, name
        assert hole_map(out) == zero_blocks(content), name


def test_a_dense_file_of_zeros_is_published_as_holes(q, tmp_path):
    """Written zeros and holes read the same: the copy cannot tell them apart (its map is
    its bytes'), and 16 MiB of zeros take no block."""
    write(q / "zeros.bin", bytes(16 * MIB))
    result = vmguard.vet(q, rules(allow_types=TYPES, head_only=HEAD_ONLY), tmp_path / "pub" / "j")
    assert result.status is Status.PROMOTED
    out = tmp_path / "pub" / "j" / "zeros.bin"
    assert out.read_bytes() == bytes(16 * MIB) and allocated(out) == 0


def test_the_policy_can_refuse_sparse_files(q, tmp_path):
    sparse(q / "big.bin", 32 * MIB, {0: b"x" * 4096})
    write(q / "dense.txt", "text\n")
    policy = rules(allow_types=TYPES, head_only=HEAD_ONLY, sparse_files=SparseFiles.REFUSE)
    result = vmguard.vet(q, policy, tmp_path / "pub" / "j", per_file=True)
    big = entry(result, "big.bin")
    assert big.reasons == (Reason.SPARSE_FILE,) and "holes" in big.detail
    assert sorted(os.listdir(tmp_path / "pub" / "j")) == ["dense.txt"]


def test_a_hole_filled_during_the_copy_is_refused(q, tmp_path):
    sparse(q / "big.bin", 32 * MIB, {0: b"x" * (2 * MIB), 20 * MIB: b"y" * MIB})

    def fill():
        with open(q / "big.bin", "r+b") as fh:
            fh.seek(10 * MIB)
            fh.write(b"payload")

    done = at("copy-chunk", ("big.bin",), fill)
    result = vmguard.vet(
        q, rules(allow_types=TYPES, head_only=HEAD_ONLY), tmp_path / "pub" / "j", per_file=True
    )
    assert done
    assert entry(result, "big.bin").reasons == (Reason.CHANGED_DURING_VET,)
    assert not (tmp_path / "pub" / "j" / "big.bin").exists()


@pytest.fixture
def small_public(tmp_path):
    """A 16 MiB tmpfs as the public area."""
    require_root()
    public = tmp_path / "small"
    public.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(public)], check=True)
    try:
        yield public
    finally:
        subprocess.run(["umount", str(public)], check=True)


def test_the_free_space_check_counts_what_a_sparse_file_writes(q, small_public):
    """1 GiB that is 1 MiB of data fits a 16 MiB public area: the check counts the
    data, not the size (it counted the size and refused)."""
    content = sparse(q / "big.bin", 1 << 30, {0: b"\0vmguard" * (MIB // 8)})
    policy = rules(allow_types=TYPES, head_only=HEAD_ONLY, max_file_size=2 << 30)
    result = vmguard.vet(q, policy, small_public / "j")
    assert result.status is Status.PROMOTED
    assert allocated(small_public / "j" / "big.bin") <= 2 * MIB
    assert hashlib.sha256(content).hexdigest() == entry(result, "big.bin").sha256


def test_control_a_dense_file_larger_than_the_public_area_is_refused_before_copying(q, small_public):
    write(q / "dense.bin", b"\0vmguard" * (3 * MIB))
    with pytest.raises(VetError, match="not enough free space"):
        vmguard.vet(q, rules(allow_types=TYPES, head_only=HEAD_ONLY), small_public / "j")
    assert os.listdir(small_public / ".vmguard-staging") == ["j.lock"]


def test_written_runs_skip_exactly_the_aligned_blocks_of_zeros():
    """Against a plain reading of the rule, on random buffers at random file offsets: a
    block is a hole iff it is aligned, wholly in the buffer (or the file's last) and zero."""
    block = holes.BLOCK

    def written_bytes(data: bytes, offset: int, size: int) -> list[bool]:
        out: list[bool] = []
        start = -(offset % block)  # the first byte's block, in the buffer
        while start < len(data):
            judged = start >= 0 and (start + block <= len(data) or offset + len(data) == size)
            piece = data[max(start, 0) : start + block]
            out += [not judged or any(piece)] * len(piece)
            start += block
        return out

    rng = random.Random(13)
    for _ in range(400):
        data = bytearray(rng.randrange(5 * block))
        for _ in range(rng.randrange(4)):
            if data:
                data[rng.randrange(len(data))] = 7
        offset = rng.choice([0, block, rng.randrange(3 * block)])
        size = offset + len(data) + rng.choice([0, 0, rng.randrange(1, 2 * block)])
        written = [False] * len(data)
        for start, end in holes.written_runs(bytes(data), len(data), offset, size):
            written[start:end] = [True] * (end - start)
        assert written == written_bytes(bytes(data), offset, size), (len(data), offset, size)
