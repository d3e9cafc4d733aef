"""Ordinary output for independent attack p (tests/quarantine/test_attack_independent_ptext.py),
each written by the real tool here: g++'s report on a template call (`std::vector<Body>`,
`<form>`-like bare tags), make driving gcc, Python logging (UTF-8 and UTF-16, English and
Japanese), a pytest failure report, tqdm's two nested bars written to a file, pandas CSV and
TSV. No hand edits: the bytes are what the tools wrote.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

CPP = r"""#include <vector>
#include <string>
struct Body { double m; };
struct Html { std::string s; };
template <typename T> double total(const std::vector<T>& v, int) { return v.size(); }
int main() {
    std::vector<Body> bodies(3);
    std::vector<Html> pages;
    return total(bodies) + total(pages, "x");
}
"""

MAKEFILE = "all: sim\nsim: sim.c\n\t$(CC) -Wall -Wextra -O2 -o sim sim.c\n"
SIM_C = "#include <stdio.h>\nint main(void) { int unused; float f = 1.0 / 3; printf(\"%d\\n\", f); }\n"

PYTEST = (
    "import math\n\n"
    "def test_energy():\n    e = [1.0, 2.0, 3.5]\n    assert math.fsum(e) == 6.0\n\n"
    "def test_ok():\n    assert True\n"
)


def _run(cmd: list[str], cwd: Path) -> bytes:
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    env.pop("GCC_COLORS", None)
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, env=env, check=False, timeout=120)
    return proc.stdout + proc.stderr


def gcc_controls(work: Path) -> dict[str, bytes]:
    files = {}
    if shutil.which("g++"):
        (work / "nbody.cpp").write_text(CPP)
        files["build/gxx-templates.log"] = _run(["g++", "-c", "nbody.cpp", "-o", "/dev/null"], work)
    if shutil.which("make") and shutil.which("gcc"):
        (work / "Makefile").write_text(MAKEFILE)
        (work / "sim.c").write_text(SIM_C)
        files["build/make.log"] = _run(["make", "-B"], work)
    if shutil.which("pr"):
        # coreutils pr -f: a printer listing, pages ended by FF (refused: documented price).
        (work / "sim.c").write_text(SIM_C)
        files["build/listing.txt"] = _run(["pr", "-f", "-l", "20", "-h", "sim.c", "sim.c"], work)
    return files


def _logged(path: Path, encoding: str, messages: list[str]) -> bytes:
    logger = logging.getLogger(f"ptext.{path.name}")
    logger.propagate = False
    handler = logging.FileHandler(path, encoding=encoding)
    handler.setFormatter(logging.Formatter("%(message)s" if "ja" in path.name else
                                           "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    for m in messages:
        logger.info(m)
    logger.warning("retrying shard 3 after timeout")
    handler.close()
    logger.removeHandler(handler)
    return path.read_bytes()


def logging_controls(work: Path) -> dict[str, bytes]:
    en = ["starting run 7 on node gpu-12", "loaded 412 files (3.2 GiB)", "München site: ok"]
    ja = ["合計: 412 件のファイルを処理しました", "エラー: 0 件", "完了"]
    return {
        "logs/run.log": _logged(work / "run.log", "utf-8", en),
        "logs/run-utf16.log": _logged(work / "run-utf16.log", "utf-16", en),
        "logs/ja-utf16.log": _logged(work / "ja-utf16.log", "utf-16", ja),
        "logs/ja.log": _logged(work / "ja.log", "utf-8", ja),
    }


def pytest_control(work: Path) -> dict[str, bytes]:
    (work / "test_energy.py").write_text(PYTEST)
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no",
                "test_energy.py"], work)
    return {"logs/pytest.out": out}


def tqdm_control() -> dict[str, bytes]:
    from tqdm import tqdm
    buf = io.StringIO()
    for _ in tqdm(range(3), desc="epoch", file=buf, mininterval=0, ascii=True):
        for _ in tqdm(range(20), desc="batch", file=buf, mininterval=0, ascii=True,
                      leave=False, position=1):
            pass
    return {"logs/train.err": buf.getvalue().encode()}


def table_controls() -> dict[str, bytes]:
    import pandas as pd
    df = pd.DataFrame({"run": [1, 2, 3], "site": ["München", "Zürich", "<b>"],
                       "note": ["ok", "retry, shard 3", "vector<Body>"],
                       "energy": [1.5, 2.25, -0.125]})
    return {"tables/runs.csv": df.to_csv(index=False).encode(),
            "tables/runs.tsv": df.to_csv(index=False, sep="\t").encode()}


def controls(work: Path) -> dict[str, bytes]:
    work.mkdir(parents=True, exist_ok=True)
    return (gcc_controls(work) | logging_controls(work) | pytest_control(work)
            | tqdm_control() | table_controls())


NAMES = ("build/gxx-templates.log", "build/make.log", "build/listing.txt", "logs/run.log", "logs/run-utf16.log",
         "logs/ja-utf16.log", "logs/ja.log", "logs/pytest.out", "logs/train.err",
         "tables/runs.csv", "tables/runs.tsv")
