"""ROOT, tar and zip files for the independent content attack d.

ROOT files are written by uproot; the hostile ones patch fields no reader of the file
uses (uproot still reads every key of each: test_attack_independent_dcontent.py checks).
"""

from __future__ import annotations

import io
import struct
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import uproot

from tests.support.attack_dcontent_files import CSV as CSV_BODY
from tests.support.attack_dcontent_files import MARK

# ---------------------------------------------------------------- ROOT (small layout)


def _header(d: bytes) -> dict[str, int]:
    names = ("end", "seek_free", "nbytes_free", "nfree", "nbytes_name", "units", "compress")
    values = struct.unpack(">iiiiiBi", d[12:37])
    assert struct.unpack(">i", d[4:8])[0] < 1000000, "small layout only"
    return {"begin": struct.unpack(">i", d[8:12])[0], **dict(zip(names, values, strict=True))}


def _key_at(d: bytes, p: int) -> bool:
    """A key starts at p: it names p as its own position (fSeekKey)."""
    version = struct.unpack(">h", d[p + 4 : p + 6])[0]
    if version > 1000:
        return struct.unpack(">q", d[p + 18 : p + 26])[0] == p
    return struct.unpack(">i", d[p + 18 : p + 22])[0] == p


def _key_before(d: bytes, at: int) -> int:
    return max(p for p in range(100, at) if _key_at(d, p) and struct.unpack(">i", d[p : p + 4])[0] > 0)


def _lengths(d: bytes, key: int) -> tuple[int, int]:
    """(fNbytes, fKeylen) of the key at key."""
    return struct.unpack(">i", d[key : key + 4])[0], struct.unpack(">h", d[key + 14 : key + 16])[0]


def _put(d: bytes, at: int, b: bytes) -> bytes:
    return d[:at] + b + d[at + len(b) :]


def _free_segments(d: bytes) -> list[tuple[int, int]]:
    h = _header(d)
    _, keylen = _lengths(d, h["seek_free"])
    p, out = h["seek_free"] + keylen, []
    while p < h["seek_free"] + h["nbytes_free"]:
        _, first, last = struct.unpack(">hii", d[p : p + 10])
        out.append((first, last))
        p += 10
    return out


def _directory(d: bytes) -> int:
    """Offset of the top directory's TDirectory body (after its key and TNamed)."""
    begin = _header(d)["begin"]
    _, keylen = _lengths(d, begin)
    p = begin + keylen
    for _ in range(2):  # name, title
        p += 1 + d[p]
    return p


def _base(where: Path) -> bytes:
    """A tree, then a histogram, then a second one in an update: the remains of a record
    uproot rewrote stay in a free segment (not zeros: uproot leaves them)."""
    rng = np.random.default_rng(1)
    path = where / "attack-d-base.root"
    with uproot.recreate(path) as f:
        f.mktree("t", {"n": "i4"})
        f["t"].extend({"n": rng.integers(0, 5, size=5000).astype("i4")})
        f["h"] = np.histogram(rng.normal(size=100), bins=5)
    with uproot.update(path) as f:
        f["h2"] = np.histogram(rng.normal(size=100), bins=5)
    return path.read_bytes()


def _uproot_orders(where: Path) -> dict[str, bytes]:
    """uproot's documented calls in ordinary orders (histogram first; extend last; both in a
    loop; in a subdirectory), and two codecs."""
    rng = np.random.default_rng(2)
    a, b = where / "hist-then-tree.root", where / "tree-hist-extend.root"
    with uproot.recreate(a) as f:
        f["h"] = np.histogram(rng.normal(size=100), bins=5)
        f.mktree("t", {"x": "f8"})
        f["t"].extend({"x": rng.normal(size=1000)})
    with uproot.recreate(b) as f:
        f.mktree("t", {"x": "f8"})
        f["h"] = np.histogram(rng.normal(size=100), bins=5)
        f["t"].extend({"x": rng.normal(size=1000)})
    c, d = where / "interleaved.root", where / "subdir.root"
    with uproot.recreate(c) as f:  # a job that fills its tree and saves a histogram per run
        f.mktree("t", {"x": "f8"})
        for run in range(5):
            f["t"].extend({"x": rng.normal(size=100)})
            f[f"h{run}"] = np.histogram(rng.normal(size=100), bins=5)
    with uproot.recreate(d) as f:
        f["dir/h"] = np.histogram(rng.normal(size=100), bins=5)
        f.mktree("dir/t", {"x": "f8"})
        f["dir/t"].extend({"x": rng.normal(size=100)})
    files = {"ctl-hist-then-tree.root": a.read_bytes(), "ctl-tree-hist-extend.root": b.read_bytes()}
    files |= {"ctl-interleaved.root": c.read_bytes(), "ctl-subdir-hist-then-tree.root": d.read_bytes()}
    for codec in ("LZMA", "ZSTD"):
        path = where / f"{codec}.root"
        with uproot.recreate(path, compression=getattr(uproot, codec)(4)) as f:
            f.mktree("t", {"x": "f8"})
            for _ in range(3):
                f["t"].extend({"x": rng.normal(size=2000)})
            f["dir/sub/h"] = np.histogram(rng.normal(size=100), bins=5)
        files[f"ctl-{codec}.root"] = path.read_bytes()
    return files


def root_files(where: Path) -> dict[str, bytes]:
    d = _base(where)
    h = _header(d)
    files = {"ctl-tree-hists.root": d, **_uproot_orders(where)}
    remains = [s for s in _free_segments(d) if s[1] < h["end"] and any(d[s[0] : s[1] + 1])]
    zeros = [s for s in _free_segments(d) if s[1] < h["end"] and not any(d[s[0] : s[1] + 1])]
    files["root-remains-payload.root"] = _put(d, remains[0][0] + 300, MARK)
    files["root-zero-gap-payload.root"] = _put(d, zeros[0][0] + 8, MARK)  # control: refused
    uuid = _directory(d) + 30  # version(2) datimeC datimeM nbyteskeys nbytesname seeks(3 x 4)
    files["root-dir-uuid.root"] = _put(d, uuid + 2, MARK[:16])
    files["root-dir-reserved.root"] = _put(d, uuid + 18, MARK[:12])
    files["root-header-uuid.root"] = _put(d, 47, MARK[:16])
    files["root-header-fcompress.root"] = _put(d, 33, b"AAAA")
    keys = struct.unpack(">i", d[_directory(d) + 26 : _directory(d) + 30])[0]
    nbytes, _ = _lengths(d, keys)
    slack = len(d[keys : keys + nbytes]) - len(d[keys : keys + nbytes].rstrip(b"\0"))
    files["root-keys-list-slack.root"] = _put(d, keys + nbytes - slack + 8, MARK[: slack - 16])
    files["root-free-segment-bogus.root"] = _bogus_segment(d)
    files["root-basket-slack.root"] = _basket_slack(d)
    hist = _key_before(d, d.find(b"\x04TH1D\x01h\x00"))
    files["root-record-key-cycle.root"] = _put(d, hist + 16, b"AA")
    files["root-record-key-name.root"] = _put(d, d.find(b"\x04TH1D\x01h\x00", hist) + 6, b"X")
    files["root-header-gap.root"] = _put(d, 70, b"XYZ")  # control: refused
    basket = _key_before(d, d.find(b"\x07TBasket"))
    end = basket + _lengths(d, basket)[1]  # after the title: version(2) fBufferSize(4) ... flag(1)
    files["root-basket-buffer-size.root"] = _put(d, end - 17, b"AAAA")
    files["root-basket-flag.root"] = _put(d, end - 1, b"\x07")
    markup = where / "title.root"
    with uproot.recreate(markup) as f:
        f.mktree("t", {"x": "f8"}, title="<img src=x onerror=alert(1)>")
        f["t"].extend({"x": np.arange(5.0)})
    files["root-title-markup.html"] = markup.read_bytes()
    return files


def _bogus_segment(d: bytes) -> bytes:
    """One more free segment (10 bytes, naming nothing) in the FreeSegments record."""
    h = _header(d)
    fs, nb = h["seek_free"], h["nbytes_free"]
    assert fs + nb == h["end"], "FreeSegments is the last record"
    x = bytearray(d[: fs + nb - 10] + struct.pack(">hii", 1, 0x41414141, 0x42424242) + d[fs + nb - 10 :])
    struct.pack_into(">i", x, fs, nb + 10)
    struct.pack_into(">i", x, fs + 6, struct.unpack(">i", d[fs + 6 : fs + 10])[0] + 10)
    struct.pack_into(">i", x, len(x) - 8, h["end"] + 10)  # the last segment starts at fEND
    struct.pack_into(">iiii", x, 12, h["end"] + 10, fs, nb + 10, h["nfree"] + 1)
    return bytes(x)


def _basket_slack(d: bytes) -> bytes:
    """The basket's ZL block recompressed at level 9; the bytes it frees (the key's length
    is unchanged) hold the payload after the compressed block."""
    key = _key_before(d, d.find(b"\x07TBasket"))
    nbytes, keylen = _lengths(d, key)
    block = d[key + keylen : key + nbytes]
    assert block[:2] == b"ZL" and 9 + int.from_bytes(block[3:6], "little") == len(block)
    packed = zlib.compress(zlib.decompress(block[9:]), 9)
    new = block[:3] + len(packed).to_bytes(3, "little") + block[6:9] + packed
    slack = len(block) - len(new)
    assert slack > len(MARK), slack
    return _put(d, key + keylen, new + (MARK * (slack // len(MARK) + 1))[:slack])


# ---------------------------------------------------------------- tar and zip


def _tar(fmt: int = tarfile.USTAR_FORMAT, pax: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, pax_headers=pax or {}) as tar:
        info = tarfile.TarInfo("a.csv")
        info.size, info.mtime, info.mode = 8, 1700000000, 0o644
        tar.addfile(info, io.BytesIO(b"a,b\n1,2\n"))
    return out.getvalue()


def _sum(b: bytes) -> bytes:
    """The first header's checksum recomputed."""
    x = bytearray(b)
    x[148:156] = b" " * 8
    x[148:156] = b"%06o\0 " % sum(x[:512])
    return bytes(x)


def _zip(**fields: object) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("a.csv", date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o100644 << 16
        for name, value in fields.items():
            setattr(info, name, value)
        z.writestr(info, b"a,b\n1,2\n")
    return out.getvalue()


def _members_tar(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _members_zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as z:
        warnings.simplefilter("ignore")  # "Duplicate name": the point of TWICE
        for name, data in members:
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            z.writestr(info, data)
    return out.getvalue()


TWICE = [("a.csv", b"hidden,1\n"), ("a.csv", CSV_BODY)]  # extraction keeps the last
CASES = [("a.csv", b"x,1\n"), ("A.csv", CSV_BODY)]


def archive_files() -> dict[str, bytes]:
    tar = _tar()
    return {
        "ctl.tar": tar,
        "ctl-pax.tar": _tar(tarfile.PAX_FORMAT),
        "ctl-gnu.tar": _tar(tarfile.GNU_FORMAT),
        "ctl.zip": _zip(),
        "ctl-empty-member.tar": _members_tar([("a.csv", CSV_BODY), ("empty.log", b"")]),
        "ctl-empty-member.zip": _members_zip([("a.csv", CSV_BODY), ("empty.log", b"")]),
        "tar-header-padding.tar": _sum(_put(tar, 500, MARK[:12])),
        "tar-linkname-of-file.tar": _sum(_put(tar, 157, MARK[:99] + b"\0")),
        "tar-devmajor-of-file.tar": _sum(_put(tar, 329, b"1234567\0")),
        "tar-data-padding.tar": _put(tar, 512 + 8, MARK),
        "tar-member-name-escape.tar": _tar(tarfile.PAX_FORMAT, {"path": "e\x1b]0;owned\x07.csv"}),
        "tar-pax-comment.tar": _tar(tarfile.PAX_FORMAT, {"comment": MARK.decode()}),
        "tar-member-traversal.tar": _tar(tarfile.PAX_FORMAT, {"path": "../../evil.csv"}),  # control
        "zip-ntfs-extra-payload.zip": _zip(extra=struct.pack("<HHI", 0x000A, 28, 0) + MARK[:24]),
        "zip-dos-attribute-bits.zip": _zip(external_attr=(0o100644 << 16) | 0x7FFF),
        "zip-internal-attributes.zip": _zip(internal_attr=0xBEEF),
        "zip-made-by.zip": _zip(create_system=11, create_version=63),
        "tar-same-name-twice.tar": _members_tar(TWICE),
        "tar-same-path-dot-segment.tar": _members_tar([("d/a.csv", CSV_BODY), ("d/./a.csv", b"hidden\n")]),
        "tar-case-collision.tar": _members_tar(CASES),
        "tar-bidi-name.tar": _members_tar([("x\u202etxt.exe", CSV_BODY)]),
        "zip-same-name-twice.zip": _members_zip(TWICE),
        "zip-case-collision.zip": _members_zip(CASES),
        "zip-member-name-escape.zip": _members_zip([("e\x1b]0;owned\x07.csv", CSV_BODY)]),
    }
