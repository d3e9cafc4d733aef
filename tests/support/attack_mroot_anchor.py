"""An RNTuple deleted and not made again whose anchor a later record was written over
(docs/quarantine.md, session 37, root_rntuple.written_over: "a free stretch that is the
last bytes (one at least) of the anchor recomputed for a footer no anchor reaches and a
header of the checksum it carries (... fMaxKeySize 0 or 1 GiB, the XXH3-64 of the
fields)"): uproot's own file (24 small strings written after the `del`, the last over the
anchor's start, 22 of its bytes left) and that stretch forged: fMaxKeySize chosen with the
checksum recomputed, 1 GiB (ROOT's default), a wrong checksum.
"""

from __future__ import annotations

import struct
from pathlib import Path

import xxhash

from tests.support import attack_mroot_files as files
from tests.support import attack_mroot_rio as rio
from tests.support.attack_mroot_codecs import PAYLOAD

# The layout depends on the file name's length (it is in the top records): "b.root".
STEPS = [files.both(files.nt("events"), files.hist("h0")), files.delete("events"),
         files.both(*[files.text(f"s{k}", "v") for k in range(24)])]


def _anchor(made: Path) -> tuple[int, bytes]:
    """Where the anchor was and its bytes, from the file before the third job."""
    d = files.jobs(made / "a.root", None, STEPS[:2])
    p = d.find(b"\rROOT::RNTuple\x06events") - 26
    return p, d[p:p + struct.unpack(">i", d[p:p + 4])[0]]


def _fields(anchor: bytes, max_key: int) -> bytes:
    """The anchor's last 72 bytes with fMaxKeySize set and the XXH3-64 recomputed."""
    head = anchor[len(anchor) - 78 + 6:len(anchor) - 16] + struct.pack(">Q", max_key)
    assert len(head) == 64
    return head + struct.pack(">Q", xxhash.xxh3_64_intdigest(head))


def written_over(made: Path) -> tuple[bytes, dict[str, bytes]]:
    """uproot's file, and its stretch forged."""
    made.mkdir(parents=True, exist_ok=True)
    p, anchor = _anchor(made)
    d = files.jobs(made / "b.root", None, STEPS)
    end = p + len(anchor)
    start = max(r.pos + r.nbytes for k in range(24) for r in rio.all_named(d, f"s{k}", "TObjString")
                if p <= r.pos < end)
    assert d[start:end] == anchor[start - p:], "the stretch is not the anchor's tail"
    assert _fields(anchor, 0)[-8:] == anchor[-8:], "the checksum is not XXH3-64 of fields"
    n = end - start

    def forged(max_key: int) -> bytes:
        return rio.put(d, start, _fields(anchor, max_key)[-n:])

    out = {
        "max-key-size-chosen": forged(int.from_bytes(PAYLOAD[:8], "big")),
        "max-key-size-1gib": forged(1 << 30),
        "checksum-wrong": rio.put(d, end - 8, PAYLOAD[:8]),
    }
    return d, {f"root-m-anchor-{k}.root": v for k, v in out.items()}


NAMES = sorted(f"root-m-anchor-{k}.root"
               for k in ("max-key-size-chosen", "max-key-size-1gib", "checksum-wrong"))
CONTROL = "ctl-m-nt-del-24-strings-over-anchor.root"
