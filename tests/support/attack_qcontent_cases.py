"""Hostile files of independent attack q on the terminal-strings rule (session 40): JSON that
jq or json.load reads as JSON but vmguard admits as text, an HDF5 object comment, a TTree's
own title, tar owner names, and the cases where the rule holds.

Every hostile string drives a terminal: ESC [ 9 A climbs rows, ESC [ 2 K / ESC [ 2 J erase,
OSC 0 retitles the window. Honest writers never put them in a value, a comment or an owner.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import h5py
import numpy as np
import uproot

ESC = b"\\u001b"  # the JSON escape, six characters
FORGE = ESC + b"[9A" + ESC + b"[2KFORGED: all 40 jobs passed"
RAW = "\x1b[9A\x1b[2KFORGED\x1b]0;pwned\x07"
TREE_TITLE = "p_{T} [GeV/c\u00b2] at 5 \u03bcm pitch"


def json_holes() -> dict[str, bytes]:
    """JSON a reader reads (jq: a stream of values; json.load: RFC 8259 `ws value ws`)."""
    line = b'{"step": 2, "status": "' + FORGE + b'"}\n'
    return {
        # pandas' to_json(lines=True) form, the name the docs' remedy names: jq -r .status
        "json/lines.jsonl": b'{"step": 1, "status": "ok"}\n' + line,
        # the control in the FIRST value: "JSON up to such a string is refused with it"
        "json/first.jsonl": line + b'{"step": 3, "status": "ok"}\n',
        # one RFC 8259 value behind white space: json.load returns it
        "json/space.txt": b" " + line,
        "json/newline.txt": b"\n" + line,
        # a top-level string, RFC 8259's value too: jq -r . prints OSC 0 raw
        "json/scalar.txt": b'"' + ESC + b"]0;pwned" + b'\\u0007"\n',
        # two values back to back (jq reads a stream)
        "json/concat.log": b'{"step": 1}' + line,
        # the control in a key: jq -r 'keys[]'
        "json/key.jsonl": b'{"step": 1}\n{"' + FORGE + b'": 1}\n',
        # the same lines gzipped (batch.yaml's one container): zcat | jq -r .status
        "json/lines.jsonl.gz": gzip.compress(b'{"step": 1}\n' + line, mtime=1764990000),
    } | _one_value_holes(line.rstrip(b"\n")) | _jq_grammar_holes()


def _jq_grammar_holes() -> dict[str, bytes]:
    """Not JSON before the string, but read by jq 1.6 (and NaN/Infinity by json.load, which
    json.dumps writes by default): jq does not refuse it."""
    status = b'"status": "' + FORGE + b'"}\n'
    return {
        "json/nan.log": b'{"loss": NaN, ' + status,
        "json/infinity.log": b'{"loss": Infinity, ' + status,
        "json/leading-zero.log": b'{"run": 042, ' + status,
        "json/plus.log": b'{"shift": +1, ' + status,
        "json/bare-point.log": b'{"eff": .5, ' + status,
    }


def _one_value_holes(value: bytes) -> dict[str, bytes]:
    """One JSON value that breaks a layout pin only outside the value: json.loads(bytes)
    returns it (it skips white space, a UTF-8 BOM, and reads UTF-16 by its BOM)."""
    return {
        "json/crlf.txt": value + b"\r\n",
        "json/two-newlines.txt": value + b"\n\n",
        "json/bom.txt": b"\xef\xbb\xbf" + value,
        "json/utf16.txt": b"\xff\xfe" + value.decode().encode("utf-16-le"),
        # not one value (json.load refuses it), but jq -r prints the value before failing
        "json/trailing-word.log": value + b" done\n",
    }


def json_refused() -> dict[str, bytes]:
    """The rule holds: an upper-case escape, a raw C1 in JSON lines, surrogate keys jq merges,
    an integer that rounds to infinity."""
    big = 2**1024 - 2**970  # the midpoint above the largest double: ties to even, inf
    return {
        "json/upper.txt": b'{"status": "\\u001B[2J"}',
        "json/c1.jsonl": '{"a": "x"}\n{"a": "\u009b2J"}\n'.encode(),
        "json/sur-text.json": b'{"\\ud83dx": 1, "\\ufffdx": 2}',
        "json/sur-swap.json": b'{"\\udfff\\ud800": 1, "\\ufffd\\ufffd": 2}',
        "json/sur-pair.json": b'{"\\ud800\\ud800\\udc00": 1, "\\ufffd\\ud800\\udc00": 2}',
        "json/sur-two.json": b'{"\\ud800": 1, "\\ud801": 2}',
        "json/inf-int.json": f"[{big}]".encode(),
        "json/nel.json": b'{"a": "x\\u0085y"}',
    }


def json_listed() -> dict[str, bytes]:
    """Admitted as the docs say: bidi and format characters in JSON strings."""
    return {"json/bidi.json": b'{"name": "\\u202egpj.exe"}'}


def _h5(path: Path, build, **kw) -> bytes:
    with h5py.File(path, "w", **kw) as f:
        build(f)
    return path.read_bytes()


def _comment(f) -> None:
    f["x"] = [1.0]
    h5py.h5o.set_comment(f.id, RAW.encode(), obj_name=b"x")


def _compound_attr(f) -> None:
    dt = np.dtype([("n", "i4"), ("unit", "S24")])
    f.attrs.create("cal", np.array([(1, RAW.encode()[:24])], dtype=dt))


def _dense_attrs(f) -> None:
    for i in range(20):
        f.attrs[f"a{i:02d}"] = i
    f.attrs[RAW] = 1


def _dense_links(f) -> None:
    for i in range(20):
        f[f"d{i:02d}"] = [i]
    f[RAW] = [1]


def _compound_vlen(f) -> None:
    dt = np.dtype([("n", "i4"), ("msg", h5py.string_dtype())])
    f.create_dataset("t", data=np.array([(1, "ok"), (2, RAW)], dtype=dt))


def _spacepad(f) -> None:
    """A SPACEPAD attribute (libhdf5's low level): its ESC after the blank."""
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(24)
    tid.set_strpad(h5py.h5t.STR_SPACEPAD)
    aid = h5py.h5a.create(f.id, b"sp", tid, h5py.h5s.create(h5py.h5s.SCALAR))
    aid.write(np.array(b"GeV " + RAW.encode()[:20], dtype="S24"), mtype=tid)


def h5_cases(made: Path) -> tuple[dict[str, bytes], dict[str, bytes], dict[str, bytes]]:
    """(holes, refused, listed) HDF5 files written by h5py."""
    made.mkdir(parents=True, exist_ok=True)
    p = made / "w.h5"
    holes = {"h5/comment.h5": _h5(p, _comment),
             # h5py's attrs.create with a subarray dtype: one attribute of an ARRAY datatype
             "h5/array-attr.h5": _h5(p, lambda f: f.attrs.create(
                 "units", np.array([b"GeV", RAW.encode()[:20]]), dtype=np.dtype(("S20", (2,)))))}
    refused = {
        "h5/fixed-after-nul.h5": _h5(p, lambda f: f.attrs.create(
            "unit", np.array(b"GeV\x00" + RAW.encode()[:20], dtype="S24"))),
        "h5/fixed-array.h5": _h5(p, lambda f: f.attrs.create(
            "units", np.array([b"GeV", RAW.encode()[:20]], dtype="S20"))),
        "h5/dense-attr-name.h5": _h5(p, _dense_attrs, libver="latest"),
        "h5/dense-link-name.h5": _h5(p, _dense_links, libver="latest"),
        "h5/old-link-name.h5": _h5(p, lambda f: f.create_dataset(RAW, data=[1])),
        "h5/soft-value.h5": _h5(p, lambda f: f.__setitem__("s", h5py.SoftLink("/" + RAW))),
        "h5/named-type.h5": _h5(p, lambda f: f.__setitem__(RAW, np.dtype("i4"))),
        "h5/compound-vlen.h5": _h5(p, _compound_vlen),
        "h5/vlen-dataset.h5": _h5(p, lambda f: f.create_dataset(
            "log", data=np.array(["ok", RAW], dtype=object), dtype=h5py.string_dtype())),
        "h5/ascii-c1.h5": _h5(p, lambda f: f.attrs.create(
            "t", b"x\xc2\x9b2J", dtype=h5py.string_dtype("ascii"))),
        "h5/attr-name.h5": _h5(p, lambda f: f.attrs.__setitem__(RAW, 1)),
        "h5/spacepad.h5": _h5(p, _spacepad),
        "h5/overlong-esc.h5": _h5(p, lambda f: f.attrs.create(
            "t", b"x\xc0\x9b[2J", dtype=h5py.string_dtype("ascii"))),
    }
    listed = {"h5/compound-attr.h5": _h5(p, _compound_attr),
              "h5/enum-name.h5": _h5(p, lambda f: f.attrs.create(
                  "state", 1, dtype=h5py.enum_dtype({"OK": 0, RAW: 1}, basetype="i1")))}
    return holes, refused, listed


def _tree(path: Path) -> bytes:
    with uproot.recreate(path, compression=None) as f:
        f.mktree("t", {"x": "f8"}, title=TREE_TITLE)
        f["t"].extend({"x": np.arange(5.0)})
    return path.read_bytes()


def _hist(path: Path) -> bytes:
    from uproot.writing.identify import to_TAxis, to_TH1x

    counts = np.array([0.0, 3.0, 5.0, 1.0, 0.0])
    axis = to_TAxis("xaxis", "", 3, 0.0, 3.0)
    with uproot.recreate(path, compression=None) as f:
        f["h"] = to_TH1x("h", TREE_TITLE, counts, 9.0, 9.0, 9.0, 9.0, 9.0, counts, axis)
    return path.read_bytes()


def _retitled(raw: bytes, copy: int) -> bytes:
    """The title's copy number `copy` (0 the keys list, 1 the key, 2 the payload) as RAW."""
    title = TREE_TITLE.encode()
    at = [i for i in range(len(raw)) if raw.startswith(title, i)]
    assert len(at) == 3, at
    i = at[copy]
    return raw[:i] + RAW.encode().ljust(len(title), b" ") + raw[i + len(title):]


def root_cases(made: Path) -> tuple[dict[str, bytes], dict[str, bytes], dict[str, bytes]]:
    """(holes, refused, listed): uproot's TTree and TH1D, uncompressed, with a copy of their
    title patched, and a TObjString."""
    made.mkdir(parents=True, exist_ok=True)
    tree, hist = _tree(made / "t.root"), _hist(made / "h.root")
    with uproot.recreate(made / "s.root", compression=None) as f:
        f["note"] = "calibration " + RAW
    return ({"root/tree-title.root": _retitled(tree, 2),
             "root/hist-title.root": _retitled(hist, 2)},
            {"root/key-title.root": _retitled(tree, 1),
             "root/hist-key-title.root": _retitled(hist, 1)},
            {"root/objstring.root": (made / "s.root").read_bytes()})


def _tar(uname: str = "alice", gname: str = "users", fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        data = b"step 1 ok\n"
        info = tarfile.TarInfo("run.log")
        info.size, info.mode, info.mtime = len(data), 0o644, 1764990000
        info.uid, info.gid, info.uname, info.gname = 1000, 100, uname, gname
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_holes() -> dict[str, bytes]:
    """`tar tv` prints the owner names raw (GNU tar quotes member names, not owners)."""
    return {
        "tar/uname.tar": _tar(uname="\x1b[2J\x1b]0;pwned\x07"),
        "tar/gname.tar": _tar(gname="\x1b[9A\x1b[2K"),
        "tar/pax-uname.tar": _tar(uname="\x1b[2J\u00e9", fmt=tarfile.PAX_FORMAT),
    }


def tar_control() -> bytes:
    return _tar()


def split_escapes() -> dict[str, bytes]:
    """json.dumps' layout with one `\\u001b` (or a raw C2 9B) across a 4 KiB, 64 KiB or 1 MiB
    boundary, at 1 or 3 bytes before it: a chunked reader must see it whole."""
    files = {}
    for bound in (4096, 65536, 1048576):
        for shift, esc in ((1, b"\\u001b[2J"), (3, b"\\u001b[2J"), (1, "\u009b2J".encode())):
            head = b'["' + b"a" * (bound - shift - 6) + b'", "'
            assert len(head) == bound - shift
            kind = "c1" if esc[0] == 0xC2 else "esc"
            files[f"split/{kind}-{bound}-{shift}.json"] = head + esc + b'"]'
    return files


def _shared_type(f) -> None:
    f["strt"] = np.dtype("S24")
    f.attrs.create("unit", np.array(RAW.encode()[:24], dtype="S24"), dtype=f["strt"])


def _dense_fixed(f) -> None:
    for i in range(20):
        f.attrs[f"a{i:02d}"] = i
    f.attrs.create("unit", np.array(RAW.encode()[:24], dtype="S24"))


def _continued(f) -> None:
    ds = f.create_dataset("x", data=[1.0])
    for i in range(10):
        ds.attrs[f"pad{i}"] = np.arange(30.0)
    ds.attrs.create("unit", np.array(RAW.encode()[:24], dtype="S24"))


def h5_more_refused(made: Path) -> dict[str, bytes]:
    """A fixed-length string attribute through a committed datatype, in dense storage, in a
    continuation block: the rule holds."""
    made.mkdir(parents=True, exist_ok=True)
    p = made / "m.h5"
    return {"h5/shared-type-attr.h5": _h5(p, _shared_type),
            "h5/dense-fixed-attr.h5": _h5(p, _dense_fixed, libver="latest"),
            "h5/continued-fixed-attr.h5": _h5(p, _continued)}
