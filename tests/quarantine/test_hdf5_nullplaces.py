"""Where libhdf5 leaves null messages in an object header with continuation blocks (issue
#13, session 37: attack l h5's nulls of zeros, free in number, size and place there).

Swept (tests/support/hdf5_nullplaces.py: 240 random multi-session h5py workflows, every
libver, tracked or not, attributes added, rewritten, deleted, objects deleted): every
null message ends its block or directly follows a continuation message, no two are
adjacent, and one that follows a continuation message without ending its block is the
rest of the slot of the message displaced to the block that continuation names (its
first message's size and header, plus the gaps libhdf5 merged into it: fewer bytes than
a message header for each later message of its block), that block holding no other null. Pinned (arrangement.py); real files pass,
crafted ones are refused naming the rule."""

from __future__ import annotations

import collections

import pytest

pytest.importorskip("h5py")

from tests.support import attack_lh5_forge as forge  # noqa: E402
from tests.support import attack_lh5_split as split  # noqa: E402
from tests.support.hdf5_nullplaces import CONT, NULL, headers, layout, workflow  # noqa: E402
from tests.support.hdf5_refusal import refusal as _refusal  # noqa: E402

SEEDS = range(240)


def _first(blocks: list, b: int) -> int:
    """What the displaced message's slot was: the block's first message, or the slot of
    the continuation message and null that displaced it in turn."""
    seq = blocks[b]
    if seq[0][0] == CONT and len(seq) > 1 and seq[1][0] == NULL:
        return seq[1][2] + seq[1][1] - seq[0][2]
    return seq[0][1]


def _places(buf: bytes) -> collections.Counter:
    """How the nulls of the file's headers with continuation blocks lie."""
    seen: collections.Counter = collections.Counter()
    for addr in headers(buf):
        hs, blocks, named = layout(buf, addr)
        if len(blocks) < 2:
            continue
        seen["headers"] += 1
        for seq in blocks:
            for i, (kind, size, head) in enumerate(seq):
                if kind != NULL:
                    continue
                after = seq[i - 1] if i else (None, 0, 0)
                if i + 1 == len(seq):
                    seen["last" + (" after cont" if after[0] == CONT else "")] += 1
                    continue
                seen["adjacent"] += seq[i + 1][0] == NULL
                if after[0] != CONT:
                    seen["mid elsewhere"] += 1
                    continue
                extra = head + hs + size - after[2] - hs - _first(blocks, named[after[2]])
                later = len(seq) - i - 1  # each may have left a gap libhdf5 merged into the null
                seen[f"slot + {extra}" if 0 <= extra <= (hs - 1) * later else "slot broken"] += 1
                rest = blocks[named[after[2]]]
                seen["fresh block null"] += any(
                    k == NULL and (not j or rest[j - 1][0] != CONT) for j, (k, _, _) in enumerate(rest))
    return seen


@pytest.fixture(scope="module")
def swept():
    files = {seed: workflow(seed) for seed in SEEDS}
    return files, sum((_places(buf) for buf in files.values()), collections.Counter())


def test_sweep_reaches_every_place(swept):
    """The sweep is not vacuous: headers with continuation blocks, nulls ending blocks
    after continuation messages and not, and slots not condensed, some with a gap."""
    seen = swept[1]
    assert seen["headers"] > 500 and seen["last"] > 300 and seen["last after cont"] > 50, seen
    assert seen["slot + 0"] > 10 and sum(seen[f"slot + {k}"] for k in range(1, 64)) > 0, seen


def test_sweep_places_are_the_pinned_ones(swept):
    seen = swept[1]
    assert not any(seen[k] for k in ("adjacent", "mid elsewhere", "slot broken", "fresh block null")), seen


OURS = ("are adjacent", "neither its block's last", "not condensed")  # arrangement._placed's refusals


def test_no_real_workflow_refused_for_its_nulls(swept):
    """Many of these workflows are refused for other, documented reasons (an attribute
    rewritten or deleted leaves remains: h5repack); none for where its nulls lie."""
    verdicts = {seed: _refusal(buf) for seed, buf in swept[0].items()}
    assert sum(v == "accepted" for v in verdicts.values()) > 30
    assert not {seed: v for seed, v in verdicts.items() if any(o in v for o in OURS)}


def _null(size: int) -> bytes:
    return bytes([NULL]) + size.to_bytes(2, "little") + b"\0" + bytes(size)


CRAFTED = {
    "split-latest": (lambda: split.split(split.with_cont(), "/d0", [8, 7, 2]), "are adjacent"),
    "split-empty": (lambda: split.split(split.with_cont(), "/d0", [0, 0]), "are adjacent"),
    "split-v1": (lambda: split.split(split.with_cont(None), "/d0", [0, 8]), "are adjacent"),
    "moved-before": (lambda: split.moved_before(split.with_cont(), "/d0"), "neither its block's last"),
    "fresh-block-null": (lambda: forge.displace(forge.base(), forge.D0, forge.named(forge.CALIB),
                                                gap=_null(7))[0], "holds a null message"),
    "fresh-block-nulls": (lambda: forge.displace(forge.base(), forge.D0, forge.named(forge.CALIB),
                                                 gap=_null(0) + _null(40))[0], "adjacent"),
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_places_refused(name):
    make, reason = CRAFTED[name]
    got = _refusal(make())
    assert got.startswith("hdf5:") and reason in got, got


def test_forged_displacement_alone_passes():
    """The slot rule's own case: a displacement exactly as H5O__alloc_chunk makes one."""
    out, _ = forge.displace(forge.base(), forge.D0, forge.named(forge.CALIB))
    assert _refusal(out) == "accepted"
