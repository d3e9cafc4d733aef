"""Hostile files of attack sh5: 8 chosen bytes written over zeros of the real controls
(`attack_sh5_controls`), where session 40's admitted leftovers (freed list copies, the
zeros after them, dimension-only tails, emptied blocks' ends) lie, and beyond."""

from __future__ import annotations

import re

PAYLOAD = b"PAYLOAD!"
MIN_RUN = 16


def zero_runs(data: bytes) -> list[int]:
    """Start of each run of MIN_RUN or more zero bytes: where a writer left nothing."""
    return [m.start() for m in re.finditer(rb"\x00{%d,}" % MIN_RUN, data)]


def payload_mutants(controls: dict[str, bytes]) -> dict[str, bytes]:
    """Each control with PAYLOAD at the start (and 8 bytes into) each zero run."""
    out = {}
    for name, data in controls.items():
        stem, dot, ext = name.removeprefix("ctl/").rpartition(".")
        for run in zero_runs(data):
            for at in (run, run + 8):
                out[f"mut/{stem}@{at}.{ext}"] = data[:at] + PAYLOAD + data[at + 8 :]
    return out
