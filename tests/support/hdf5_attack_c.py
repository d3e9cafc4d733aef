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
}
FALSE_REJECTIONS: dict[str, str] = {
    # Fixed (h5append): the track_order root under a version 0 superblock (its entry
    # caches nothing, as libhdf5 writes it) and the local heap's old block that a file
    # reopened with 'a' or flushed leaves (a copy of the heap's first names: remains.py).
    # Fixed (h5latest): ctl-append-add12-latest.h5 and ctl-flush-add12-latest.h5, the
    # null message libhdf5 leaves when the root's links move to dense storage after a
    # reopen or a flush: stale headers and pieces of the header's messages (moved.py).
}
# Refusals whose message contradicts itself or leaks Python (a reader cannot tell what
# is wrong).
CONTRADICTORY = {
}


def attacks() -> dict[str, bytes]:
    return {name: bytes(build()) for name, build in ATTACKS.items()}


def controls() -> dict[str, bytes]:
    return {name: bytes(build()) for name, build in CONTROLS.items()}


def documented() -> dict[str, bytes]:
    return {name: bytes(build()) for name, (build, _) in DOCUMENTED.items()}
