"""Escapes of the format a name announces (session 40, escnames; validators/namedescapes.py,
served.escape_reasons): text named .yaml/.yml, .toml, .jsonl/.ndjson is refused when it
holds that format's escape of a control terminal.py refuses, which the format's reader
(PyYAML, tomllib, json) decodes and prints raw; the same bytes under a name that announces
no format stay text. Each hostile file is checked to decode to the control with the
format's own reader, and the honest ones with it to hold none (the test can fail both
ways)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tomllib
import zipfile

import pytest

from tests.quarantine.test_attack_independent_dcontent import _policy
from tests.quarantine.test_attack_independent_econtent import _vet
from tests.quarantine.test_validators import chunked
from vmguard.quarantine import served
from vmguard.quarantine.validators import namedescapes, terminal, text

yaml = pytest.importorskip("yaml")

CLEAR = "\x1b[2J\x1b[9AFORGED: all 40 jobs passed"
YAML_DUMPED = yaml.safe_dump({"note": CLEAR}).encode()  # PyYAML writes ESC as \e
HOSTILE = {  # name: (bytes, the format's reader)
    "dump.yaml": (YAML_DUMPED, lambda d: yaml.safe_load(d)["note"]),
    "x1b.yml": (b'note: "\\x1b[2J"\n', lambda d: yaml.safe_load(d)["note"]),
    "csi.yaml": (b'note: "\\x9B2J"\n', lambda d: yaml.safe_load(d)["note"]),
    "u8.yaml": (b'note: "\\U0000001b[2J"\n', lambda d: yaml.safe_load(d)["note"]),
    "nel.yaml": (b'note: "a\\Nb"\n', lambda d: yaml.safe_load(d)["note"]),
    "bs.yaml": (b'note: "\\b\\b\\b"\n', lambda d: yaml.safe_load(d)["note"]),
    "odd.yaml": (b'note: "\\\\\\e[2J"\n', lambda d: yaml.safe_load(d)["note"]),
    "run.toml": (b'[run]\nnote = "\\U0000001B[2J"\n', lambda d: tomllib.loads(d.decode())["run"]["note"]),
    "ff.toml": (b'note = "\\f"\n', lambda d: tomllib.loads(d.decode())["note"]),
    "steps.jsonl": ((json.dumps({"a": "\b\b"}) + "\n" + json.dumps({"b": 1}) + "\n").encode(),
                    lambda d: json.loads(d.splitlines()[0])["a"]),
    "steps.ndjson": ((json.dumps({"a": "\f"}) + "\n" + json.dumps({"b": 1}) + "\n").encode(),
                     lambda d: json.loads(d.splitlines()[0])["a"]),
}
HONEST = {  # name: bytes its reader decodes to no control
    "mu.yaml": yaml.safe_dump({"unit": "\u00b5m"}, allow_unicode=False).encode(),  # "\xB5m"
    "escaped.yaml": b'note: "\\\\e[2J and \\\\x1b"\n',  # a backslash, then e / x1b
    "tabs.yaml": b'note: "a\\tb\\nc"\n',
    "run.toml": b'[run]\nname = "Pb\\u00e9"\npath = "C:\\\\x1b"\n',
    "events.jsonl": (json.dumps({"t": "Pb\u00e9", "n": "a\tb"}) + "\n" + json.dumps({"n": 2}) + "\n").encode(),
}
READERS = {"yaml": lambda d: yaml.safe_load(d), "toml": lambda d: tomllib.loads(d.decode()),
           "jsonl": lambda d: [json.loads(x) for x in d.splitlines()]}


def _found(data: bytes, size: int = 4096) -> dict[str, str]:
    named: dict[str, str] = {}
    assert text.validate(chunked(data, size), named) == "text"
    return named


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_reader_returns_a_control(name):
    data, read = HOSTILE[name]
    assert terminal.CONTROL.search(read(data)), read(data)
    assert not terminal.CONTROL.search(data.decode())  # no raw control: text to vmguard


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_files_decode_to_no_control(name):
    strings = _strings(READERS[name.rpartition(".")[2]](HONEST[name]))
    assert strings and not any(terminal.CONTROL.search(s) for s in strings), strings


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 4096])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_found_wherever_a_chunk_cuts(name, size):
    grammar = namedescapes.ANNOUNCED[name.rpartition(".")[2]]
    found = _found(b"x" * 3 + HOSTILE[name][0], size)
    assert grammar in found, found
    assert served.escape_reasons(name, tuple(found.items()))


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_text_holds_no_named_escape(name):
    grammar = namedescapes.ANNOUNCED[name.rpartition(".")[2]]
    for size in (1, 3, 4096):
        assert grammar not in _found(HONEST[name], size)


def test_an_even_run_is_literal_and_an_odd_one_an_escape():
    assert _found(b"\\\\e \\\\\\\\x1b") == {}
    assert set(_found(b"\\\\\\e")) == {namedescapes.YAML, namedescapes.TOML}


def test_the_name_decides():
    named = (("YAML", "\\e near byte 7"),)
    assert served.escape_reasons("run.log", named) == []
    assert served.escape_reasons("run.toml", named) == []  # TOML's grammar found nothing
    why = served.escape_reasons("run.YAML.gz", named)
    assert len(why) == 1 and why[0][1].startswith("gunzip makes it run.YAML: the name ends in .yaml, which announces YAML"), why
    assert "\\e near byte 7" in why[0][1]


def test_grammars_follow_terminal_control():
    """Every escape letter and hex value decoding to a refused control is in its grammar,
    nothing else: TAB, LF, CR and printable characters pass."""
    yml = namedescapes.GRAMMARS[namedescapes.YAML]
    assert all(yml.fullmatch(f"\\x{c:02X}") for c in range(0xA0) if terminal.CONTROL.match(chr(c)))
    assert not any(yml.fullmatch(e) for e in ("\\t", "\\n", "\\r", "\\xB5", "\\xa0", "\\u00e9", "\\_"))


def test_vet_refuses_by_the_name(tmp_path):
    """Through the CLI: the hostile bytes under their names are refused (name-type), the
    same bytes as .log published; the honest files published byte-identical; a gzip whose
    name gunzip makes .yaml refused."""
    files = {f"bad/{n}": d for n, (d, _) in HOSTILE.items()}
    files |= {f"ok/{n}": d for n, d in HONEST.items()}
    files |= {f"log/{n}.log": d for n, (d, _) in HOSTILE.items() if not n.endswith("jsonl")}
    files["gz/dump.yaml.gz"] = gzip.compress(YAML_DUMPED, mtime=0)
    run = _vet(tmp_path, "escnames", files, _policy())
    for name in files:
        entry = run["entries"][name]
        if name.startswith(("bad/", "gz/")):
            assert entry["verdict"] == "rejected" and "name-type" in entry["reasons"], entry
            assert "announces" in entry["detail"] and "double" in entry["detail"], entry
            assert not (run["out"] / name).exists()
        else:
            assert entry["verdict"] == "accepted", entry
            assert (run["out"] / name).read_bytes() == files[name]


def test_the_cost_plain_latex_labels_and_the_remedy():
    """A backslash outside a double-quoted scalar is judged too (docs: the cost): PyYAML's
    plain `$\\alpha_s$` is refused under .yaml; written with default_style='"' its
    backslashes are doubled, admitted, and it reads back the same."""
    labels = {"xlabel": "$\\alpha_s$ vs $\\epsilon$", "regex": "\\bfoo\\b"}
    plain = yaml.safe_dump(labels).encode()
    assert b"\\alpha" in plain and b"\\\\" not in plain
    assert namedescapes.YAML in _found(plain)
    quoted = yaml.safe_dump(labels, default_style='"').encode()
    assert yaml.safe_load(quoted) == labels and namedescapes.YAML not in _found(quoted)


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_archive_members_are_judged_by_their_names(tmp_path):
    """A tar's or zip's member is judged by its own name as a client that unpacks it has it:
    dump.yaml and a gzipped dump.yaml.gz refused, the same bytes as dump.log and the honest
    members beside them published (refused member's archive whole)."""
    bad = {"run/dump.yaml": YAML_DUMPED, "run/cfg.toml.gz": gzip.compress(HOSTILE["run.toml"][0], mtime=0)}
    good = {"run/dump.log": YAML_DUMPED, "run/mu.yaml": HONEST["mu.yaml"], "run/notes.txt": b"ok\n"}
    files = {"bad.tar": _tar(good | bad), "bad.zip": _zip(good | bad),
             "good.tar": _tar(good), "good.zip": _zip(good)}
    run = _vet(tmp_path, "escmembers", files, _policy(("tar", "zip")))
    for name in ("bad.tar", "bad.zip"):
        entry = run["entries"][name]
        assert entry["verdict"] == "rejected" and "name-type" in entry["reasons"], entry
        assert "archive member run/dump.yaml" in entry["detail"], entry
        assert "run/cfg.toml.gz: gunzip makes it cfg.toml" in entry["detail"], entry
        assert "dump.log" not in entry["detail"] and "mu.yaml" not in entry["detail"], entry
    for name in ("good.tar", "good.zip"):
        assert run["entries"][name]["verdict"] == "accepted", run["entries"][name]
