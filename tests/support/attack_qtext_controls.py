"""Ordinary output for independent attack q (tests/quarantine/test_attack_independent_qtext.py)
beyond attack p's controls (g++, make, logging, pytest, tqdm, pandas: reused): output long
enough to cross vet's 1 MiB chunks, where the line and BS rules carry state from chunk to
chunk: tqdm's two nested bars over many epochs (one `ESC [ A` a line, lines of any length),
an English Python log in UTF-16 and UTF-8, written by the real tools.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

MIB = 1 << 20


def tqdm_long() -> bytes:
    """Two nested bars, written as to a terminal, until the output passes 2 MiB."""
    from tqdm import tqdm
    buf = io.StringIO()
    outer = tqdm(total=400, desc="epoch", file=buf, mininterval=0, ascii=True)
    while buf.tell() < 2 * MIB + 4096 and outer.n < 400:
        for _ in tqdm(range(100), desc="batch", file=buf, mininterval=0, ascii=True,
                      leave=False, position=1):
            pass
        outer.update(1)
    outer.close()
    return buf.getvalue().encode()


def _long_log(path: Path, encoding: str) -> bytes:
    logger = logging.getLogger(f"qtext.{path.name}")
    logger.propagate = False
    handler = logging.FileHandler(path, encoding=encoding)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    for i in range(15000):
        logger.info("event %d: reconstructed 412 tracks, chi2/ndf 1.07, vertex (0.1, -0.2, 3.5) cm", i)
        if i % 1000 == 999:
            logger.warning("retrying shard %d after timeout\tbackoff 2 s", i // 1000)
    handler.close()
    logger.removeHandler(handler)
    return path.read_bytes()


TQDM_JOB = """
import logging, sys
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm
log = logging.getLogger("train")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
with logging_redirect_tqdm():
    for epoch in tqdm(range(4), desc="epoch", mininterval=0):
        for step in tqdm(range(50), desc="step", mininterval=0, leave=epoch == 3):
            pass
        log.info("epoch %d: loss 0.%03d", epoch, 500 - epoch)
        tqdm.write(f"checkpoint saved: ckpt-{epoch}.pt")
"""


def tqdm_process(work: Path) -> bytes:
    """A training script's stderr as the batch system writes it (`2> train.err`): two nested
    bars with Unicode blocks, logging and tqdm.write in between, the last inner bar kept."""
    err = work / "train-unicode.err"
    with err.open("wb") as sink:
        subprocess.run([sys.executable, "-c", TQDM_JOB], stderr=sink, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, COLUMNS="100"), check=True, timeout=120)
    return err.read_bytes()


def powershell_like(work: Path) -> bytes:
    """UTF-16LE with CRLF line ends, as Windows tools (PowerShell's Out-File) write a log."""
    path = work / "transfer-utf16.log"
    with path.open("w", encoding="utf-16", newline="\r\n") as f:
        for i in range(200):
            f.write(f"{i:04d}\tcopied run_{i:04d}.root\t1.2 GB\tOK\n")
    return path.read_bytes()


def controls(work: Path) -> dict[str, bytes]:
    work.mkdir(parents=True, exist_ok=True)
    return {
        "proc/train-unicode.err": tqdm_process(work),
        "proc/transfer-utf16.log": powershell_like(work),
        "long/train.err": tqdm_long(),
        "long/reco-utf16.log": _long_log(work / "reco-utf16.log", "utf-16"),
        "long/reco.log": _long_log(work / "reco.log", "utf-8"),
    }


NAMES = ("long/train.err", "long/reco-utf16.log", "long/reco.log", "proc/train-unicode.err",
         "proc/transfer-utf16.log")
