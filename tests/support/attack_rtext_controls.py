"""Ordinary output for independent attack r text (tests/quarantine/test_attack_independent_rtext.py),
each written by the real tool here: json and pandas JSON lines of ordinary data with unicode
escapes (`\\u00e9`), gzipped JSON lines, PyYAML and tomllib-readable configs a run dumps,
Python logging, tqdm's two nested bars, a Python traceback, and ordinary job file names.
No hand edits: the bytes are what the tools wrote.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

ROWS = [{"run": 1, "target": "Pb\u00e9", "note": "\u00b5-beam \u2013 25 \u00b0C", "e": 1.5},
        {"run": 2, "target": "C\u00e9sium", "note": "tab\there\nnext", "e": 2.25}]


def json_controls() -> dict[str, bytes]:
    import pandas as pd
    lines = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    frame = pd.DataFrame(ROWS)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as f:
        f.write(lines)
    return {
        "json/events.jsonl": lines,
        "json/pandas.jsonl": frame.to_json(orient="records", lines=True).encode(),
        "json/events.jsonl.gz": buf.getvalue(),
        "json/summary.log": ("summary " + json.dumps(ROWS) + "\n").encode(),
    }


def config_controls() -> dict[str, bytes]:
    import yaml
    cfg = {"target": "C\u00e9sium", "beam": {"energy_GeV": 6.5, "note": "\u00b5-beam"},
           "seeds": [1, 2, 3]}
    return {
        "run/config.yaml": yaml.safe_dump(cfg, allow_unicode=False).encode(),
        "run/params.yaml": yaml.safe_dump({"lr": 0.001, "epochs": 12}).encode(),
        "run/results.toml": b'[run]\nepochs = 12\ntarget = "C\\u00e9sium"\n',
    }


def logging_control() -> dict[str, bytes]:
    buf = io.StringIO()
    log = logging.getLogger("rtext-job")
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.info("loaded %d events from %s", 1204, "run-0042.jsonl")
    log.warning("target %r has no calibration", "C\u00e9sium")
    log.removeHandler(handler)
    return {"logs/job.log": buf.getvalue().encode()}


def tqdm_control() -> dict[str, bytes]:
    from tqdm import tqdm
    buf = io.StringIO()
    for _ in tqdm(range(3), desc="epoch", file=buf, mininterval=0, ascii=True):
        for _ in tqdm(range(20), desc="batch", file=buf, mininterval=0, ascii=True,
                      leave=False, position=1):
            pass
    return {"logs/train.err": buf.getvalue().encode()}


CLEAN = (
    "import re\n\n"
    "def clean(s):\n"
    "    return re.sub(r'[\\u0000-\\u0008\\u000e-\\u001f]', '', s) + 1\n\n"
    "clean('ok')\n"
)


def traceback_control(work: Path) -> dict[str, bytes]:
    """A job that strips control characters fails: Python's traceback quotes the line."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "clean.py").write_text(CLEAN)
    proc = subprocess.run([sys.executable, "clean.py"], cwd=work, capture_output=True,
                          check=False)
    return {"logs/clean.err": proc.stderr}


_JOB_NAMES = ("make.log", "cmake.out", "build.log", "configure.log", "setup.log", "tasks.txt",
              "ctest.log", "CTestCosts.txt", "vite.log", "sbt.log", "startup.log",
              "profile.txt", "environment.txt", "workspace.txt", "main.out", "deps.txt")
NAMES = (("json/events.jsonl", "json/pandas.jsonl", "json/events.jsonl.gz", "json/summary.log",
          "run/config.yaml", "run/params.yaml", "run/results.toml", "logs/job.log",
          "logs/train.err", "logs/clean.err") + tuple(f"names/{n}" for n in _JOB_NAMES))


def name_controls() -> dict[str, bytes]:
    """Ordinary physics job file names beside the tool tables' patterns (make, cmake, ctest,
    vite, sbt, startup, profile, environment, workspace)."""
    return {f"names/{n}": b"ok\n" for n in _JOB_NAMES}


def controls(work: Path) -> dict[str, bytes]:
    return (json_controls() | config_controls() | logging_control() | tqdm_control()
            | traceback_control(work / "tb") | name_controls())
