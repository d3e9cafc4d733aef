"""Independent black-box attack r on `vmguard vet`'s session-40 text and name claims (issue
#13, session 40): docs/quarantine.md's text row (a JSON `\\u` escape of a refused control is
refused in every encoding and across chunks), "JSON and text: what exactness leaves" (`\\b`
and `\\f` are what a JSON reader still decodes to a control; `\\x1b`, `\\033`, `\\e` are
admitted because "no JSON reader decodes" them), the names3 table of tool files, and the
TeX jobs (gzip suffixes, ConTeXt), not the code (neither the validators nor their tests
were read).

Escapes (HOLES): the readers of text are not only JSON readers. YAML's double-quoted scalars
decode `\\e`, `\\x1b`, `\\x9b` (CSI, a C1 control) and `\\U0000001b`; TOML's basic strings
decode `\\U0000001B` (tomllib, Python's own); PyYAML, tomllib and `yq -r` (jq over YAML)
return and print ESC [ 2 J (tmux erases what it showed, checked here). JSON readers themselves
(jq, node's JSON.parse, json, pandas) decode no spelling but `\\uXXXX` and `\\b \\f \\n \\r \\t`
(checked by hand: `\\u1b`, `\\u+01b`, `\\U001b`, `\\u{1b}`, `\\x1b`, `\\e` are parse errors to all
four), so for JSON the documented `\\b`, `\\f` are the only ones. The JSON escape itself is
refused (claim holds) where chunks (64 KiB, 1 MiB), UTF-16LE/BE, a UTF-8 BOM, gzip members
and deflate blocks, CSV's doubled quotes and a 70,001-backslash run cut it.
Names (HOLES): tool files of other families, read from `.`, published: conda's
environment.yml/.yaml, dvc.yaml, MLproject, cdk.json, Pulumi.yaml, skaffold.yaml,
platformio.ini, R's _targets.R, app.R, plumber.R, install.R, renv.lock, DESCRIPTION, Julia's
Manifest.toml. Refused as claimed: dot files (.latexmkrc, .Rprofile, .pdbrc, .npmrc ...),
dot directories (.cargo, .mvn, .vscode), latexmkrc, pylintrc, pytest.ini, tox.ini,
setup.cfg, uv.toml, bunfig.toml, Procfile, build.xml, pom.xml, composer.json,
CMakePresets.json, Pipfile, meson.build, Caddyfile, Makefile.toml, mise.toml, postBuild,
start, rootalias.C, rootlogoff.C, init_vis.mac, vis.mac, pawlogon.kumac, *.py, *.m.
TeX (HOLES): main.brf published beside ltxdoc's main.drv, main.Rmarkdown and a main.ipynb
Quarto renders; refused as claimed: main.tuc beside ConTeXt sources, main.ins (a Windows
type), main.tex.bz2/.xz (no such type allowed).
Controls, real tool output: json and pandas JSON lines with `\\u00e9`, a gzipped `.jsonl`,
PyYAML's dump with `\\xB5`, Python logging, tqdm's two nested bars, a Python traceback
quoting a regex of control escapes (refused by the documented rule), ordinary job file
names (make.log, ctest.log, CTestCosts.txt, vite.log, sbt.log, startup.log ...).

All files of job `rtext` are vetted ONCE through the CLI (batch.yaml's allow_types,
scanners off, per-file promotion).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("tqdm")
pytest.importorskip("pandas")
yaml = pytest.importorskip("yaml")

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import _vet  # noqa: E402
from tests.support import attack_rtext_cases as cases  # noqa: E402
from tests.support import attack_rtext_controls as ctl  # noqa: E402

ROOT_DIR = Path(__file__).resolve().parents[2]
_ESC_CLAIM = ("the docs admit `\\x1b`, `\\033`, `\\e` because 'no JSON reader decodes' them and "
              "name `\\b`, `\\f` as what a reader still decodes; ")
_YAML = ("PyYAML's safe_load and `yq -r .note` return/print {what} ESC [ 2 J: " + _ESC_CLAIM
         + "YAML's double-quoted escapes are another reader's, not listed")
_TOOL = "a tool file read from `.` published, beside names3's 'one systematic table': "
_TEX = ("main.brf (backref's \\jobname.brf, read back as TeX with \\openout) published beside "
        "a TeX job's source {src}: the docs refuse NAME.* beside the sources they list")
HOLES: dict[str, str] = {
    # yaml/e.yaml, yaml/x1b.yaml, yaml/U8.yaml, yaml/x9b.yaml, toml/results.toml: closed
    # session 40 (escnames): a name ending in .yaml or .toml has its format's escapes judged.
    # conda/environment.yml, conda2/environment.yaml, dvc/dvc.yaml, r3/_targets.R, shiny/app.R,
    # plumb/plumber.R, pio/platformio.ini, mlflow/MLproject, cdk/cdk.json, pulumi/Pulumi.yaml,
    # skaffold/skaffold.yaml, r2d3/install.R, renv/renv.lock, rdesc/DESCRIPTION,
    # julia/Manifest.toml: closed session 40 (escnames): toolnames.py's families.
    # drv/main.brf, rmd/main.brf, nb/main.brf: closed session 40 (escnames): texjobs.py's
    # SOURCES name the job from main.drv, main.Rmarkdown and main.ipynb.
}
# Sources whose own bytes are harmless: what matters is the sibling they make a job file.
COMPANIONS = {"drv/main.drv", "rmd/main.Rmarkdown", "nb/main.ipynb", "ctxgz/main.MKIV.GZ"}
FALSE_REJECTIONS: dict[str, str] = {}
DOCUMENTED_REFUSALS = {
    # A Python traceback quoting a regex that strips control characters (r'[\u0000-...]'):
    # the text row refuses any `\u` escape of a control, remedy escape its backslash.
    "logs/clean.err": "text: the escape \\u0000 near byte",
}
LISTED_PHRASE = "decodes twice"
# Documented limits of the named escapes (session 40, escnames): YAML under a name that
# announces no format is published; the docs say so.
NAMED_LIMITS = {"yaml/e.log": "chose a format the name does not announce"}

HOSTILE = cases.hostile()
LISTED = cases.listed()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-rtext")
    controls = ctl.controls(base / "made")
    vetted = _vet(base, "rtext", HOSTILE | LISTED | controls, _policy())
    return {**vetted, "controls": controls}


def _case(name: str, table: dict[str, str]):
    if name in table:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=table[name]))
    return name


def test_tables_name_real_cases(run):
    assert set(HOLES) | COMPANIONS | set(NAMED_LIMITS) <= set(HOSTILE)
    assert set(FALSE_REJECTIONS) | set(DOCUMENTED_REFUSALS) <= set(run["controls"])
    assert not (set(HOSTILE) | set(LISTED)) & set(run["controls"])


def _note(name: str, data: bytes) -> str:
    if name.endswith(".toml"):
        return tomllib.loads(data.decode())["run"]["note"]
    return yaml.safe_load(data)["note"]


@pytest.mark.parametrize("name", sorted(cases.other_escapes()))
def test_yaml_and_toml_readers_return_the_control(name):
    """The harm is real: Python's readers return ESC or CSI, and print hands it on."""
    data = HOSTILE[name]
    note = _note(name, data)
    assert note[0] in "\x1b\x9b" and note[1:3] in ("[2", "2J"), repr(note)
    assert b"\x1b" not in data and b"\xc2\x9b" not in data  # no raw control: text to vmguard
    assert note.encode()[:2] in (b"\x1b[", b"\xc2\x9b")  # print's UTF-8: ESC [ or C2 9B


def test_yq_prints_the_escape_raw(tmp_path):
    yq = shutil.which("yq")
    if yq is None:
        pytest.skip("yq not installed")
    path = tmp_path / "e.yaml"
    path.write_bytes(HOSTILE["yaml/e.yaml"])
    out = subprocess.run([yq, "-r", ".note", str(path)], capture_output=True, check=True).stdout
    assert out.startswith(b"\x1b[2J[9AFORGED"), out


def test_honest_yaml_escapes_no_control(run):
    """PyYAML writes `\\e` only for data holding ESC; the run's own config writes `\\xB5`."""
    assert yaml.safe_dump({"n": "\x1b[2J"}).startswith('n: "\\e[2J"')
    cfg = run["controls"]["run/config.yaml"]
    assert b"\\xB5" in cfg and b"\\e" not in cfg and b"\\x1" not in cfg


def test_refused_json_cuts_decode_to_the_control():
    """The refused cuts are real: pandas joins gzip members, json decodes 70,001 backslashes."""
    import pandas as pd
    frame = pd.read_json(io.BytesIO(HOSTILE["gz/members.jsonl.gz"]), lines=True,
                         compression="gzip")
    assert frame["note"][0].startswith("\x1b[2J")
    assert gzip.decompress(HOSTILE["gz/blocks.jsonl.gz"]) == gzip.decompress(
        HOSTILE["gz/members.jsonl.gz"])
    note = json.loads(HOSTILE["chunk/backslashes.jsonl"])["note"]
    assert note.endswith("\\\x1b[2J[9AFORGED") and note.count("\\") == 35_000
    line = HOSTILE["chunk/u16-2.jsonl"].decode("utf-16").splitlines()[-1]
    assert json.loads(line)["n"].endswith("\x9b9A")


def test_tool_files_and_tex_siblings_hold_their_payload():
    for name in set(cases.CONFIGS) | {n for n in cases.TEX if n.endswith((".brf", ".tuc"))}:
        data = HOSTILE[name]
        assert any(s in data for s in (b"id", b"example.net", b"/tmp/job-4242", b"/",
                                       b"openout")), name


@pytest.mark.parametrize("name", [_case(n, HOLES)
                                  for n in sorted(set(HOSTILE) - COMPANIONS - set(NAMED_LIMITS))])
def test_hostile_file_is_not_published(run, name):
    """A file under a refused directory (`.cargo`, `.mvn`, `.vscode`) has no entry: the
    directory's refusal is what keeps it out."""
    path = name
    while path not in run["entries"]:
        path = path.rpartition("/")[0]
    entry = run["entries"][path]
    assert entry["verdict"] != "accepted", entry
    assert entry["reasons"], entry
    assert not (run["out"] / name).exists()


@pytest.mark.parametrize("name", sorted(LISTED))
def test_listed_published_byte_identical(run, name):
    """`\\u005cu001b` is the six characters `\\u001b` to one JSON decode, ESC to a second:
    the docs' limit for readers that decode twice."""
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    assert (run["out"] / name).read_bytes() == LISTED[name]
    once = json.loads(LISTED[name])["inner"]
    assert "\\u001b[2J" in once and "\x1b" not in once
    assert json.loads(once)["n"] == "\x1b[2J[9AFORGED"
    assert LISTED_PHRASE in (ROOT_DIR / "docs" / "quarantine.md").read_text()


@pytest.mark.parametrize("name", sorted(NAMED_LIMITS))
def test_named_limit_published_as_documented(run, name):
    """YAML's `\\e` under a .log name: published byte-identical, the docs' limit."""
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    assert (run["out"] / name).read_bytes() == HOSTILE[name]
    assert NAMED_LIMITS[name] in (ROOT_DIR / "docs" / "quarantine.md").read_text()


@pytest.mark.parametrize("name", sorted(DOCUMENTED_REFUSALS))
def test_documented_refusal(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] == "rejected", entry
    assert entry["detail"].startswith(DOCUMENTED_REFUSALS[name]), entry["detail"]


@pytest.mark.parametrize("name", [_case(n, FALSE_REJECTIONS)
                                  for n in sorted(set(ctl.NAMES) - set(DOCUMENTED_REFUSALS))])
def test_ordinary_output_published_byte_identical(run, name):
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    published = (run["out"] / name).read_bytes()
    assert published == run["controls"][name]
    assert entry["sha256"] == hashlib.sha256(published).hexdigest()


def test_controls_are_what_the_tools_wrote(run):
    c = run["controls"]
    assert b"\\u00e9" in c["json/events.jsonl"] and b"\\u00e9" in c["json/pandas.jsonl"]
    assert json.loads(c["json/events.jsonl"].splitlines()[0])["target"] == "Pb\u00e9"
    assert c["logs/train.err"].count(b"\x1b[A") >= 20
    assert b"Traceback" in c["logs/clean.err"] and b"\\u001f" in c["logs/clean.err"]


def test_the_vet_exits_as_a_partly_refused_job(run):
    assert run["rc"] == 1, run["rc"]


def test_names_list_every_control(run):
    assert set(ctl.NAMES) == set(run["controls"])


def _tmux_screen(tmux: str, command: str) -> str:
    """What a 100x40 tmux pane shows after 20 marker lines and `command`."""
    sock = f"rtext-{time.monotonic_ns()}"
    pre = "; ".join(f"echo BEFORE-{i:02d}" for i in range(20))
    subprocess.run([tmux, "-L", sock, "new-session", "-d", "-x", "100", "-y", "40",
                    f"{pre}; {command}; sleep 5"], check=True)
    try:
        time.sleep(1.5)
        return subprocess.run([tmux, "-L", sock, "capture-pane", "-p"], capture_output=True,
                              check=True).stdout.decode()
    finally:
        subprocess.run([tmux, "-L", sock, "kill-server"], check=False)


def test_yq_of_a_published_yaml_erases_the_terminal(tmp_path):
    """`cat` shows the escape as text; `yq -r .note` hands ESC [ 2 J to tmux, which erases
    what it showed before the file."""
    tmux, yq = shutil.which("tmux"), shutil.which("yq")
    if tmux is None or yq is None:
        pytest.skip("tmux or yq not installed")
    path = tmp_path / "e.yaml"
    path.write_bytes(HOSTILE["yaml/e.yaml"])
    shown = _tmux_screen(tmux, f"cat {path}")
    assert sum(f"BEFORE-{i:02d}" in shown for i in range(20)) == 20, shown
    screen = _tmux_screen(tmux, f"{yq} -r .note {path}")
    assert "FORGED" in screen
    assert sum(f"BEFORE-{i:02d}" in screen for i in range(20)) == 0, screen
