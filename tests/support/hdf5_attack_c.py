"""Third independent HDF5 attack (issue #13, session 30): every case and its verdict.

The attack builders live by job in hdf5_attack_c_types.py (datatype and dataspace
messages), hdf5_attack_c_store.py (filters, chunk index, header fields); controls in
hdf5_attack_c_ctl.py. HOLES and FALSE_REJECTIONS say exactly what got out or was refused.
"""

from __future__ import annotations

from tests.support import hdf5_attack_c_ctl as ctl
from tests.support import hdf5_attack_c_store as store
from tests.support import hdf5_attack_c_types as types

ATTACKS = {**types.ATTACKS, **store.ATTACKS}
CONTROLS = ctl.CONTROLS
DOCUMENTED = ctl.DOCUMENTED
MISLEADING = ctl.MISLEADING
FLAGGED_PATH = "z"

HOLES: dict[str, str] = {}
FALSE_REJECTIONS: dict[str, str] = {}


def attacks() -> dict[str, bytes]:
    return {name: bytes(build()) for name, build in ATTACKS.items()}


def controls() -> dict[str, bytes]:
    return {name: bytes(build()) for name, build in CONTROLS.items()}


def documented() -> dict[str, bytes]:
    return {name: bytes(build()) for name, (build, _) in DOCUMENTED.items()}
