"""Format rules that need random access, checked on vmguard's own copy of the bytes.

HDF5's addresses point anywhere in the file, backwards too, so its walk (every byte
belongs to a structure reached from the root group, or is zero) cannot run on the
stream the worker sees. It runs here, on the copy the copier keeps (a sealed memfd for a
small file, the staged file for a large one: Copier.copy keep), mapped read-only: the
guest's file is never read again, and memory is the page cache's. The walk is pure
Python over bounded reads (objects, messages and extents are counted, loops detected),
and its answer joins the worker's: the file is refused unless both pass.
"""

from __future__ import annotations

import dataclasses
import mmap
import os

from vmguard.quarantine.detect import Answer
from vmguard.quarantine.validators import Invalid, hdf5


def needs_walk(head: bytes) -> bool:
    """Whether a file that starts with `head` is walked (its own copy is kept for it)."""
    return head.startswith(hdf5.SIGNATURE)


def walk(own: int, head: bytes) -> str | None:
    """The broken rule ("" when none) of the file whose own copy is `own`; None when
    its format needs no walk."""
    if not needs_walk(head):
        return None
    if own == -1:
        return "hdf5: the structure walk could not run (no copy of the file to read)"
    size = os.fstat(own).st_size
    with mmap.mmap(own, size, access=mmap.ACCESS_READ) as data:
        try:
            hdf5.walk(data, size)
        except Invalid as err:
            return str(err)
        except Exception as err:  # noqa: BLE001 - as in the worker: a walk's failure is the file's
            return f"hdf5: the structure walk failed ({type(err).__name__})"
    return ""


def judged(answer: Answer | None, walked: str | None) -> Answer | None:
    """The worker's answer with the walk's: a file the worker validated as HDF5 is
    invalid if the walk found a broken rule or did not run."""
    if answer is None or answer.problem is not None or not answer.parts or answer.parts[0][1] != hdf5.FMT:
        return answer
    if walked is None:
        walked = "hdf5: the structure walk did not run (the file does not start with the HDF5 signature)"
    return dataclasses.replace(answer, problem=("invalid-format", walked)) if walked else answer
