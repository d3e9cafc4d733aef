"""Independent black-box attack s on `vmguard vet`'s session-40 text and name claims (issue
#13, session 40): docs/quarantine.md's text row (JSON `\\u` escapes of controls refused in
any text, wherever a chunk cuts them), "JSON and text: what exactness leaves" (escapes
judged by the format a name announces: `.yaml .yml .toml .jsonl .ndjson`, a gzip by the
name gunzip makes of it), the tool-file and LaTeX-job names; not the code.

Held (refused as claimed): a UTF-16 `.yaml` and `.jsonl` behind a BOM (PyYAML and
json.loads decode UTF-16), the names in upper or mixed case, gzip's other suffixes
(`-gz .z _z`), YAML's `\\x9b`, `\\N`, upper-case `\\x1B`, an odd run of backslashes cut by
a 4 KiB, 8 KiB, 64 KiB or 1 MiB boundary after its first backslash (`\\ | \\\\e`) or just
before the escaped letter, the same for JSON's `\\u001b` in a `.txt`, `.env`/`.envrc`.
Holes: names that announce YAML or JSON lines without the listed suffix (`CITATION.cff`,
`.jsonlines`, `.ldjson`), JSON5's `\\x1b` under `.json5`, and bookdown's LaTeX job `_main`
(its `index.Rmd` names no `_main`), Quarto's job of a plain `main.md` or a percent-format
`main.jl` (their `main.brf` published); tool files read from `.`: Serverless' `serverless.yml`
(deploys with the user's credentials), Jekyll's `_config.yml` (`destination` emptied), see
HOLES. Listed: YAML escapes in a `.log` (the docs' "Left:").
Controls: tomlkit and PyYAML (double-quoted) with LaTeX, regexes and Windows paths,
PyYAML's plain regex `\\d+`, Greek labels `\\theta \\nu \\rho \\xi \\upsilon \\Upsilon`,
pandas `to_json(lines=True)`, json.dumps lines, a log quoting `\\x1b` and `\\f`, an even
run `\\\\` cut by a boundary: admitted. PyYAML's plain `$\\alpha_s$` and `C:\\Users\\bob`
and PostgreSQL's `\\u0000 cannot be converted to text` in a log: refused, as documented.

All files are vetted ONCE through the CLI (batch.yaml's allow_types, scanners off).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytest.importorskip("pandas")
pytest.importorskip("tomlkit")

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import _vet  # noqa: E402
from tests.support import attack_stext_cases as cases  # noqa: E402

ROOT_DIR = Path(__file__).resolve().parents[2]
_CLAIM = ("'under a name that announces a format that decodes escapes that format's "
          "escapes are judged too'")  # fmt: skip
HOLES = {
    "n5/CITATION.cff": "published: a Citation File Format file is YAML by its spec "
    "(linguist types .cff YAML; yq picks YAML for it): yaml.safe_load and `yq -r .title` "
    f"return ESC [ 2 J ESC [ 9 A; breaks {_CLAIM}, the list judging only .yaml/.yml",
    "n5/rows.jsonlines": "published: `.jsonlines` announces JSON lines (jsonlines "
    f"library, jq): `jq -r .a` prints FF BS BS; breaks {_CLAIM} (.jsonl, .ndjson only)",
    "n5/rows.ldjson": "published: `.ldjson` (line-delimited JSON, application/x-ldjson) "
    f"announces JSON lines: `jq -r .a` prints FF BS BS; breaks {_CLAIM}",
    "j5/cfg.json5": "published: `.json5` announces JSON5, whose readers decode "
    f"`\\x1b` (JSON5 1.0.0 escapes; no reader installed here); breaks {_CLAIM}",
    "bk/_main.brf": "published: bookdown renders index.Rmd as LaTeX job `_main` "
    "(book_filename's default) in the same directory, so its backref file `_main.brf` "
    "is TeX code read back; breaks 'where a directory names its LaTeX job the class is "
    "refused' (R Markdown's .Rmd), as main.brf beside main.ipynb",
    "qm/main.brf": "published beside main.md: `quarto render main.md --to pdf` (Quarto "
    "renders plain .md as it does .qmd) writes main.tex in . and runs LaTeX on it as job "
    "main, which reads main.brf back as TeX code; breaks 'where a directory names its "
    "LaTeX job the class is refused' (Quarto's .qmd, each writes NAME.tex)",
    "jl/main.brf": "published beside main.jl: Quarto 1.4+ renders a percent-format script "
    "(`quarto render main.jl --to pdf`, also .py and .r) as job main in .; breaks 'where "
    "a directory names its LaTeX job the class is refused'",
    "sls/serverless.yml": "published: the Serverless Framework reads ./serverless.yml on "
    "`serverless deploy` (and `invoke local`, `print`) and deploys what it names with the "
    "user's cloud credentials (an IAM role allowing *); breaks the deployment family "
    "('Pulumi.yaml, skaffold.yaml, cdk.json', tool files read from `.`, session 40 escnames)",
    "jk/_config.yml": "published: Jekyll reads ./_config.yml on `jekyll build`/`serve`: "
    "`destination` is a directory its cleaner empties of files it did not write, "
    "`plugins_dir` Ruby it loads (safe: false), as mypy.ini's junit_xml (any path) is "
    "refused; breaks 'the names the same tools' documentation says they find in `.`'",
}
LISTED = {"left/e.log": "Left: YAML or TOML under a name that announces no format"}
DOCUMENTED_REFUSALS = {
    "ya/alpha.yaml": ("the name ends in .yaml", "PyYAML's plain `$\\alpha_s$`"),
    "yw/win.yaml": ("the name ends in .yaml", "PyYAML's plain `C:\\Users\\bob`: \\b"),
    "pg/db.log": ("text: the escape \\u0000", "PostgreSQL's DETAIL line quoting \\u0000"),
    "js/run.log": ("text: the escape \\u001b", "a JSON log line of a coloured message"),
    "win/run.log": ("text: the escape \\u0012", "a Windows path of a user u0012345 "
                    "(KU Leuven's u-numbers), logged by Python logging"),
}
_DOC_PHRASES = ("a plot label `$\\alpha_s$`", "Left: YAML or TOML under a name")
_YAML_DECODES = ("u16/cfg.yaml", "case/cfg.YAML", "n5/CITATION.cff", "yx/up.yaml")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    files = cases.hostile() | cases.honest()
    return {"files": files, **_vet(tmp_path_factory.mktemp("stext"), "stext", files,
                                   _policy())}  # fmt: skip


def _published(run: dict, name: str) -> bool:
    entry = run["entries"][name]
    return entry["verdict"] == "accepted" and (run["out"] / name).is_file()


@pytest.mark.parametrize("name", _YAML_DECODES)
def test_harm_yaml_reader_returns_esc(run: dict, name: str) -> None:
    assert "\x1b" in yaml.safe_load(run["files"][name])["title"]


def test_harm_split_escape_is_esc(run: dict) -> None:
    for chunk in cases.CHUNKS:
        assert "\x1b" in yaml.safe_load(run["files"][f"split/odd{chunk}.yaml"])["pad"]
        assert "\x1b" in yaml.safe_load(run["files"][f"jsplit/odd{chunk}.txt"])["pad"]
    for name in ("dq/even4096.yaml", "dq/even65536.yaml"):  # an even run is a backslash
        assert "\x1b" not in yaml.safe_load(run["files"][name])["pad"]


def test_harm_utf16_json_lines_decode_esc(run: dict) -> None:
    line = run["files"]["u16/esc.txt"].decode("utf-16").splitlines()[0]
    assert json.loads(line)["a"].startswith("\x1b[2J")


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq not installed")
def test_harm_jq_prints_form_feed(run: dict) -> None:
    data = run["files"]["n5/rows.ldjson"]
    out = subprocess.run(["jq", "-r", ".a"], input=data, capture_output=True, check=True)
    assert out.stdout.startswith(b"\x0c\x08")


# Closed session 40: .cff is YAML, .jsonlines and .ldjson JSON lines to namedescapes;
# serverless.yml and Jekyll's _config.yml in toolnames. Kept in HOLES for their reasons.
CLOSED = {"n5/CITATION.cff", "n5/rows.jsonlines", "n5/rows.ldjson", "sls/serverless.yml",
          "jk/_config.yml"}
OPEN = sorted(set(HOLES) - CLOSED)


@pytest.mark.parametrize("name", OPEN)
def test_holes(run: dict, name: str, request: pytest.FixtureRequest) -> None:
    request.applymarker(pytest.mark.xfail(strict=True, reason=HOLES[name]))
    assert not _published(run, name)


@pytest.mark.parametrize("name", sorted(set(cases.hostile()) - set(OPEN) - set(LISTED) - {"bk/index.Rmd", "qm/main.md", "jl/main.jl"}))
def test_hostile_refused(run: dict, name: str) -> None:
    assert not _published(run, name), run["entries"][name]


@pytest.mark.parametrize("name", sorted(set(cases.honest()) - set(DOCUMENTED_REFUSALS)))
def test_honest_admitted(run: dict, name: str) -> None:
    assert _published(run, name), run["entries"][name]
    assert (run["out"] / name).read_bytes() == run["files"][name]


@pytest.mark.parametrize("name", sorted(DOCUMENTED_REFUSALS))
def test_documented_refusals(run: dict, name: str) -> None:
    start, _what = DOCUMENTED_REFUSALS[name]
    assert not _published(run, name)
    assert run["entries"][name]["detail"].startswith(start), run["entries"][name]


def test_docs_hold_the_phrases() -> None:
    docs = (ROOT_DIR / "docs" / "quarantine.md").read_text()
    for phrase in _DOC_PHRASES:
        assert phrase in docs, phrase


@pytest.mark.parametrize("name", sorted(LISTED))
def test_listed_admitted(run: dict, name: str) -> None:
    assert _published(run, name), run["entries"][name]
    assert LISTED[name] in (ROOT_DIR / "docs" / "quarantine.md").read_text()
