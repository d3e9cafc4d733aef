"""Third independent HDF5 attack (issue #13, session 30): every case and its verdict.

The attack builders live by job in hdf5_attack_c_types.py (datatype and dataspace
messages), hdf5_attack_c_store.py (filters, chunk index, message flags, group info),
hdf5_attack_c_meta.py (superblock extension, attributes, links, layouts),
hdf5_attack_c_names.py (heaps, class bits); controls in hdf5_attack_c_ctl.py; byte tools
in hdf5_attack_c_bytes.py. HOLES and FALSE_REJECTIONS say exactly what got out or was refused.
"""

from __future__ import annotations

from tests.support import hdf5_attack_c_ctl as ctl
from tests.support import hdf5_attack_c_meta as meta
from tests.support import hdf5_attack_c_names as names
from tests.support import hdf5_attack_c_store as store
from tests.support import hdf5_attack_c_types as types
from tests.support.hdf5_attack_c_bytes import PAYLOAD

ATTACKS = {**types.ATTACKS, **store.ATTACKS, **meta.ATTACKS, **names.ATTACKS}
CONTROLS = ctl.CONTROLS
DOCUMENTED = {**ctl.DOCUMENTED, **meta.DOCUMENTED}
MISLEADING = {**ctl.MISLEADING, **meta.MISLEADING}


def carried(name: str, data: bytes) -> bool:
    """The attack file holds its payload: PAYLOAD in a row, or (a field too small for
    it) spread over several fields, read back from where the builder put it."""
    if name.startswith("message-flags"):
        return store.flags_of(data, "z") == store.CARRIER
    if name in ("shuffle-size-edge.h5", "shuffle-skipped-edge.h5"):
        return PAYLOAD * 7 in store.last_chunk(data)
    if name == "pline-filter-flags.h5":
        return store.filter_flag_bytes(data) == PAYLOAD
    if name in names.SPREAD:
        return names.SPREAD[name](data) == PAYLOAD
    return PAYLOAD in data


HOLES: dict[str, str] = {
    "float-ebias.h5": "a float's 4-byte exponent bias (h5py's TypeFloatID.set_ebias): "
    "libhdf5 converts values with it; a reader gets floats (h5py cannot even map the "
    "type), the bias only from H5Tget_ebias; not among the docs' 'member names, enum "
    "values': 4 bytes",
    "pline-v1-reserved.h5": "filter pipeline message v1 (h5py's default): its 6 reserved "
    "bytes: 4 published",
    "pline-cdata-padding.h5": "filter pipeline v1: the 4 padding bytes after an odd number "
    "of client data values (shuffle and deflate have one each): 4 per filter published",
    "pline-name-padding.h5": "filter pipeline v1: the name 'fletcher32\\0' padded to 16: "
    "5 bytes after the NUL, 4 published",
    "pline-name-after-nul.h5": "filter pipeline v1: deflate's name declared 16 bytes, "
    "'deflate\\0PWND\\0\\0\\0\\0'; libhdf5 keeps the name to the NUL: any number "
    "of bytes, 4 published",
    "pline-fletcher32-cdata.h5": "a client data value given to fletcher32, which takes none "
    "(libhdf5 never writes one; only a dcpl get_filter query shows it): 4 bytes per "
    "value, any number of values",
    "pline-v2-fletcher32-cdata.h5": "the same client data value given to fletcher32 in a "
    "version 2 pipeline (libver latest): 4 bytes",
    "group-info-estimates.h5": "group info message given 'estimated entries' and "
    "'estimated name length' (flag bit 1): 4 bytes no structure uses (libhdf5 reads them "
    "only to size new groups; a gcpl query returns them)",
    "group-info-phase-change.h5": "group info message given max compact / min dense link "
    "counts (flag bit 0): 4 bytes for a group of one link (the link phase change "
    "class of the known attribute one; not pinned to the group's storage)",
    "btree-k-message.h5": "superblock extension given a B-tree 'K' values message "
    "(non-default H5Pset_sym_k/istore_k): under libver latest no v1 B-tree or symbol "
    "node uses it: 4 bytes published (6 possible)",
    "earray-layout-params.h5": "layout of a resizable dataset (extensible array index): "
    "the 5 creation parameters in the layout message are not compared with the EAHD "
    "header's (libhdf5 opens the array from the header): 4 bytes published",
    "mtime-reserved.h5": "modification time message v1 (h5py track_times=True under the "
    "default libver): the 3 reserved bytes after its version are not checked (the docs "
    "leave the time, not these): 3 per dataset, 'PWN' + 'D' over two datasets published",
    "heap-headers-reserved.h5": "the 3 reserved bytes of a local heap header (every group "
    "under the default libver has one) and of a global heap collection header (every "
    "collection) are not checked: 3 per heap; 'PWN' + 'D' published",
    "fill-v1-undefined.h5": "fill value message (type 5) version 1 with 'defined' 0 still "
    "carries a size and a value; libhdf5 takes the fill value as undefined and returns "
    "nothing (h5py: 'fill value is undefined'): the value published, 4 bytes here, any "
    "size up to the element size (the walk itself expects zeros past the extent: "
    "fill-v1-undefined-chunked is refused)",
    "fsinfo-eoa-before-fsm.h5": "file space info message (h5py fs_strategy='aggregate', "
    "libver latest): the 8-byte 'end of allocated space before the free-space managers', "
    "undefined when free space does not persist, is not pinned: 8 bytes (PWND + 4 of "
    "the undefined address's 0xff published; a field beside the known threshold hole)",
    "pline-shuffle-size.h5": "shuffle's client data value (the element size libhdf5 sets "
    "from the datatype) is not compared with the element size: PWND published (4 bytes; "
    "only a dcpl get_filter query shows it)",
    "pline-filter-flags.h5": "filter pipeline v1: the 15 bits of each filter's flags "
    "other than 'optional' are not checked (libhdf5 writes 0; a dcpl get_filter query "
    "shows them): 'P', 'W', 'N' in the high bytes of three filters, 'D' in fletcher32's "
    "low byte published (about 2 bytes per filter)",
    "shuffle-size-edge.h5": "the walk unshuffles by the datatype's size, libhdf5 by the "
    "shuffle filter's client data (here 1: no unshuffle): they disagree on which bytes "
    "of the last chunk are elements; 60 bytes that only the walk reads as data (a "
    "reader gets zeros, 30 of 100 elements), 30 of them PWND x 7 + 'PW', published",
    "message-flags-v1.h5": "the flags byte of every header message: 80 of 256 values "
    "still read (constant, don't share, shareable, mark/fail if unknown bits) on a "
    "shareable message, ~6.3 bits per message; b'PULD' over 4 messages published",
    "message-flags-v2.h5": "same as message-flags-v1 in a v2 (OHDR) header",
}
FALSE_REJECTIONS: dict[str, str] = {
    # Fixed (h5append): the track_order root under a version 0 superblock (its entry
    # caches nothing, as libhdf5 writes it) and the local heap's old block that a file
    # reopened with 'a' or flushed leaves (a copy of the heap's first names: remains.py).
    "ctl-append-add12-latest.h5": "KNOWN, REFUSED WITH ITS REMEDY: a file reopened with 'a' "
    "under libver='latest' whose root's links move to dense storage: libhdf5 leaves the "
    "bytes of the messages it moved in the null message that replaces them; what they "
    "are depends on the order of libhdf5's moves, which vmguard does not recompute: "
    "'a null message ... holds data (a payload, or the remains of messages libhdf5 moved "
    "there ...: an earlier state of the file that vmguard cannot check: h5repack the file)' "
    "(docs/quarantine.md, what exactness leaves)",
    "ctl-flush-add12-latest.h5": "KNOWN, REFUSED WITH ITS REMEDY: the same after f.flush() "
    "in one session (as ctl-append-add12-latest.h5)",
}
# Refusals whose message contradicts itself or leaks Python (a reader cannot tell what
# is wrong).
CONTRADICTORY = {
    "attr-v1-datatype-padding.h5": "PWND in the 4 padding bytes after an attribute's "
    "12-byte datatype (v1 attribute) is refused as 'a field of an attribute of /d is "
    "declared 12 bytes, not 12'",
    "link-creation-order-untracked.h5": "a creation order in a link of a group tracking "
    "none is refused as 'the links of /g tracks no creation order, yet one carries one "
    "(or not None)': Python's None leaks into the message",
}


def attacks() -> dict[str, bytes]:
    return {name: bytes(build()) for name, build in ATTACKS.items()}


def controls() -> dict[str, bytes]:
    return {name: bytes(build()) for name, build in CONTROLS.items()}


def documented() -> dict[str, bytes]:
    return {name: bytes(build()) for name, (build, _) in DOCUMENTED.items()}
