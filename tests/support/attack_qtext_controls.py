"""Ordinary output for independent attack q (tests/quarantine/test_attack_independent_qtext.py)
beyond attack p's controls (g++, make, logging, pytest, tqdm, pandas: reused): output long
enough to cross vet's 1 MiB chunks, where the line and BS rules carry state from chunk to
chunk: tqdm's two nested bars over many epochs (one `ESC [ A` a line, lines of any length),
an English Python log in UTF-16 and UTF-8, written by the real tools.
"""

from __future__ import annotations

import io
import logging
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


def controls(work: Path) -> dict[str, bytes]:
    work.mkdir(parents=True, exist_ok=True)
    return {
        "long/train.err": tqdm_long(),
        "long/reco-utf16.log": _long_log(work / "reco-utf16.log", "utf-16"),
        "long/reco.log": _long_log(work / "reco.log", "utf-8"),
    }


NAMES = ("long/train.err", "long/reco-utf16.log", "long/reco.log")
