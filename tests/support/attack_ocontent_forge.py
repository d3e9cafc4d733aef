"""Attack o content (session 39): hostile tar, zip and json bytes, forged by hand.

Each case is (bytes, why): what one reader shows that another does not, or bytes no
reader shows at all.
"""

from __future__ import annotations

import io
import tarfile
import zipfile

SHOWN = b"x,y\n1,2\n"
PAGE = b"x,y\n1,<img src=x onerror=alert(document.domain)>\n"
HIDDEN = b"<img src=x onerror=alert(document.domain)>"


def _tar(members: list[tuple[tarfile.TarInfo, bytes]], fmt=tarfile.GNU_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for info, data in members:
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1733443200
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _checksum(raw: bytearray, at: int = 0) -> None:
    raw[at + 148 : at + 156] = b" " * 8
    raw[at + 148 : at + 156] = b"%06o\0 " % sum(raw[at : at + 512])


def tar_longname_hidden(long: str = "d" * 120 + ".csv", after: bytes = HIDDEN, data: bytes = SHOWN) -> bytes:
    """A GNU long name whose data holds chosen bytes after the name's NUL: tarfile and
    GNU tar both cut the name at its NUL, so no reader shows them."""
    raw = bytearray(_tar([(tarfile.TarInfo(long), data)]))
    size = int(raw[124:135], 8)
    assert size == len(long) + 1
    name = long.encode() + b"\0" + after
    raw[124:136] = b"%011o\0" % len(name)
    _checksum(raw)  # header block 0 is the ././@LongLink header
    raw[512 : 512 + len(name)] = name
    return bytes(raw)


def tar_pax_nul(name: str = "a.html\0.csv") -> bytes:
    """A pax path holding NUL: GNU tar ends the path at it, tarfile keeps it."""
    info = tarfile.TarInfo("x.csv")
    info.pax_headers = {"path": name}
    return _tar([(info, HIDDEN)], fmt=tarfile.PAX_FORMAT)


def tar_duplicate() -> bytes:
    """`a.csv` twice: every reader unpacks the last one, over the first."""
    return _tar([(tarfile.TarInfo("a.csv"), SHOWN), (tarfile.TarInfo("a.csv"), b"x,y\n6,6\n")])


def tar_dot_duplicate() -> bytes:
    """`a.csv` and `./a.csv`: one path on disk for both."""
    return _tar([(tarfile.TarInfo("a.csv"), SHOWN), (tarfile.TarInfo("./a.csv"), b"x,y\n6,6\n")])


def tar_type(kind: bytes) -> bytes:
    """A member of an unlisted type: tarfile reads unknown types as regular files."""
    raw = bytearray(_tar([(tarfile.TarInfo("a.csv"), SHOWN)]))
    raw[156:157] = kind
    _checksum(raw)
    return bytes(raw)


def tar_mode(mode: int, fmt=tarfile.GNU_FORMAT) -> bytes:
    """A regular member whose mode field holds `mode`: tarfile and GNU tar write only the
    permission bits (mode & 0o7777) in the gnu, ustar and pax formats (GNU tar's oldgnu
    and v7 add the file type's bits, S_IFREG for a file: 0100644); GNU tar's extraction
    and chmod drop the rest, tarfile's TarInfo.mode shows them."""
    raw = bytearray(_tar([(tarfile.TarInfo("a.csv"), SHOWN)], fmt=fmt))
    assert raw[100:108] == b"0000644\0"
    raw[100:108] = b"%07o\0" % mode
    _checksum(raw)
    return bytes(raw)


def tar_dev_mixed() -> bytes:
    """Two members, the first's device fields empty (tarfile, GNU tar's gnu format), the
    second's zeros (GNU tar's ustar and pax formats): one writer writes one spelling in
    a whole archive, so the choice is a free bit a member (device numbers are no field
    tar tv shows for a file)."""
    raw = bytearray(_tar([(tarfile.TarInfo("a.csv"), SHOWN), (tarfile.TarInfo("b.csv"), SHOWN)]))
    assert raw[1024 + 329 : 1024 + 345] == bytes(16)
    raw[1024 + 329 : 1024 + 345] = b"0000000\0" * 2
    _checksum(raw, 1024)
    return bytes(raw)


def tar_formats_mixed() -> bytes:
    """A GNU-format member then a ustar one (magic `ustar  \0` then `ustar\000`): a bit a
    member no writer spends (each writes one format an archive)."""
    first = _tar([(tarfile.TarInfo("a.csv"), SHOWN)])
    second = _tar([(tarfile.TarInfo("b.csv"), SHOWN)], fmt=tarfile.USTAR_FORMAT)
    return first[:1024] + second


def tar_base256() -> bytes:
    """A size in base-256 (GNU's form for sizes over 8 GiB), both readers take it."""
    raw = bytearray(_tar([(tarfile.TarInfo("a.csv"), SHOWN)]))
    raw[124:136] = b"\x80" + len(SHOWN).to_bytes(11, "big")
    _checksum(raw)
    return bytes(raw)


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, (2024, 12, 6, 0, 0, 0))
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return out.getvalue()


def zip_duplicate() -> bytes:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _zip([("a.csv", SHOWN), ("a.csv", b"x,y\n6,6\n")])


def zip_dot_duplicate() -> bytes:
    return _zip([("a.csv", SHOWN), ("./a.csv", b"x,y\n6,6\n")])


def zip_dir_with_data() -> bytes:
    """`d/` with deflated data: zipfile and unzip make a directory and drop the data."""
    return _zip([("d/", HIDDEN), ("a.csv", SHOWN)])


def zip_nul_name() -> bytes:
    """`a.html\\0.csv`: zipfile cuts a name at NUL, so it unpacks a.html."""
    raw = _zip([("a.xhtml.csv", PAGE)])
    return raw.replace(b"a.xhtml.csv", b"a.html\0.csv")


def zip_unicode_path_extra() -> bytes:
    """An ASCII header name and an Info-ZIP unicode path extra field (0x7075) naming
    another path: unzip and 7z take the extra field, zipfile the header name."""
    import struct
    import zlib

    name = b"a.csv"
    upath = b"run.html"
    extra = struct.pack("<HHB", 0x7075, 5 + len(upath), 1) + struct.pack("<I", zlib.crc32(name)) + upath
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("a.csv", (2024, 12, 6, 0, 0, 0))
        info.create_system = 3
        info.external_attr = 0o100644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        info.extra = extra
        z.writestr(info, HIDDEN)
    return out.getvalue()


# Go's encoding/json reads a lone surrogate escape as U+FFFD ("replaced by the Unicode
# replacement character"): to Go the object below holds "\ufffd" twice, the last wins
SURROGATE_TWIN = b'{"\\ufffd": "shown", "\\udfff": "hidden"}'
# 401 digits: json.loads returns the integer, a reader of doubles inf (JavaScript) or
# the largest double (jq 1.6), orjson refuses the file
BIG = b"[1" + b"0" * 400 + b"]"


def hostile() -> dict[str, bytes]:
    """Name: forged bytes (each one a reader shows otherwise than vmguard judged)."""
    return {
        "json-o-surrogate-twin-keys.json": SURROGATE_TWIN,
        "json-o-integer-past-double.json": BIG,
        "tar-o-longname-hidden.tar": tar_longname_hidden(),
        "tar-o-longname-html.tar": tar_longname_hidden("d" * 100 + ".html", b"x.csv", PAGE),
        "tar-o-pax-nul.tar": tar_pax_nul(),
        "tar-o-duplicate.tar": tar_duplicate(),
        "tar-o-dot-duplicate.tar": tar_dot_duplicate(),
        "tar-o-type-v.tar": tar_type(b"V"),
        "tar-o-type-m.tar": tar_type(b"M"),
        "tar-o-type-x.tar": tar_type(b"X"),
        "tar-o-base256-size.tar": tar_base256(),
        "tar-o-dev-fields-mixed.tar": tar_dev_mixed(),
        "tar-o-formats-mixed.tar": tar_formats_mixed(),
        "zip-o-duplicate.zip": zip_duplicate(),
        "zip-o-dot-duplicate.zip": zip_dot_duplicate(),
        "zip-o-directory-with-data.zip": zip_dir_with_data(),
        "zip-o-nul-name.zip": zip_nul_name(),
        "zip-o-unicode-path-extra.zip": zip_unicode_path_extra(),
    }
