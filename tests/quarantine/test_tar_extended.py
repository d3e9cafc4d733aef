"""A tar member's extended header (pax `x`, GNU long name `L`) and the header behind it,
pinned to what tarfile and GNU tar write (issue #13; attack e's tar-pax-name-field,
tar-pax-size-header-field, tar-pax-header-uname, tar-longlink-header-uname and
tar-longlink-name-field). Readers take the name, size, owner and time from the extended
header, so the fields it overrides must be what the writer derives from it, and its own
fields the writer's constants. Controls: GNU tar (gnu, oldgnu, posix, reproducible and
owner options) and tarfile (PAX, GNU, a re-pack of GNU tar's pax archive)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.quarantine.test_containers_archives import _pax_tar, _record, vet
from vmguard.quarantine.validators import Invalid, tarextended

CSV = b"a,b\n1,2\n"
LONG = "d/" + "x" * 40 + "/" + "y" * 120 + ".csv"
ACCENTED = "r\u00e9sultats/\u00e9t\u00e9.csv"
needs_tar = pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")


def _tarfile(name: str, fmt: int, **fields: object) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(CSV), 0o644, 1_700_000_000.7
        for key, value in fields.items():
            setattr(info, key, value)
        tar.addfile(info, io.BytesIO(CSV))
    return out.getvalue()


def _tree(root: Path) -> Path:
    for name in (ACCENTED, LONG):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(CSV)
    return root


def _gnu_tar(root: Path, *options: str) -> bytes:
    cmd = ["tar", *options, "-cf", "-", "r\u00e9sultats", "d"]
    return subprocess.run(cmd, cwd=root, capture_output=True, check=True).stdout


def _repacked(data: bytes) -> bytes:
    """tarfile copying every member of an archive (TarInfo keeps the pax records it read)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:  # fmt: skip
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    return out.getvalue()


@needs_tar
def test_what_gnu_tar_and_tarfile_write_passes(tmp_path):
    root = _tree(tmp_path)
    made = {fmt: _gnu_tar(root, f"--format={fmt}") for fmt in ("gnu", "oldgnu", "posix")} | {
        "reproducible": _gnu_tar(
            root, "--format=posix", "--pax-option=delete=atime,delete=ctime", "--mtime=@0", "--numeric-owner"
        ),
        "owner": _gnu_tar(
            root, "--format=posix", "--owner=\u00e9t\u00e9-" + "o" * 40 + ":3000000", "--group=\u00fcn:7"
        ),
    }
    made["tarfile-repack"] = _repacked(made["posix"])
    for name in (ACCENTED, LONG):
        made[f"pax {name[:5]}"] = _tarfile(name, tarfile.PAX_FORMAT)
        made[f"gnu {name[:5]}"] = _tarfile(name, tarfile.GNU_FORMAT)
    made["pax owner"] = _tarfile(
        "a.csv", tarfile.PAX_FORMAT, uid=3_000_000, uname="\u00e9t\u00e9-" + "o" * 40, gname="\u00fcn"
    )
    for name, data in made.items():
        assert vet(data, 7), name
    assert _blocks(made["posix"])[0] == 0 and made["posix"][156:157] == b"x"  # GNU tar: the member's time
    with pytest.raises(Invalid, match="neither the member's nor the archive's clock"):
        vet(_own(made["posix"], "mtime", b"%011o" % (int(time.time()) + 2 * 86_400)))


def _headers(data: bytes, kind: bytes) -> list[int]:
    """The offsets of every header block of type `kind` in an archive."""
    at, found = 0, []
    while data[at : at + 512].strip(b"\0"):
        if data[at + 156 : at + 157] == kind:
            found.append(at)
        at += 512 + -(-int(data[at + 124 : at + 135], 8) // 512) * 512
    return found


def _every(data: bytes, kind: bytes, **fields: bytes) -> bytes:
    for at in _headers(data, kind):
        for field, value in fields.items():
            data = _set(data, at, field, value)
    return data


@needs_tar
def test_gnu_tar_pax_headers_share_the_archives_clock_and_owner(tmp_path):
    """GNU tar 1.26 (RHEL 7) writes its process's uid and gid and the time of writing in
    every pax header (devices as zeros); `--clamp-mtime` writes the --mtime value. Each is
    one value an archive (the clock: non-decreasing, within a span): not one a header."""
    root = _tree(tmp_path)
    clock = int(time.time()) + 100  # when GNU tar 1.26 wrote the headers (the files are older)
    clamped = _gnu_tar(root, "--format=posix", "--clamp-mtime", f"--mtime=@{clock}")
    assert vet(clamped)
    old = _gnu_tar(root, "--format=posix")
    old = _every(old, b"x", uid=b"0001750", gid=b"0001750", mtime=b"%011o" % clock, devices=b"0000000\0" * 2)
    assert vet(old)
    xs = _headers(old, b"x")
    assert len(xs) >= 4
    refused = {
        "another uid": _set(old, xs[2], "uid", b"0001751"),
        "devices spelled another way": _set(old, xs[2], "devices", b"\0" * 16),
        "an earlier clock": _set(old, xs[2], "mtime", b"%011o" % (clock - 1)),
        "beyond the span": _set(old, xs[-1], "mtime", b"%011o" % (clock + 61)),
        "after the vet's clock": _every(old, b"x", mtime=b"%011o" % (clock + 2 * 86_400)),
    }
    for what, data in refused.items():
        try:
            vet(data)
        except Invalid as err:
            assert "the archive's" in str(err), what
        else:
            pytest.fail(f"{what}: passed")
    assert vet(_set(old, xs[-1], "mtime", b"%011o" % (clock + 60)))  # the last header, a minute on


def test_gnu_tar_1_26_long_names_pass():
    """Its ././@LongLink: mode 0 (as tarfile), owner names root (as GNU tar since)."""
    data = _own(_own(GNU_LONG, "uname", b"root"), "gname", b"root")
    assert vet(data)
    with pytest.raises(Invalid, match="long name header holds in its gname"):
        vet(_own(GNU_LONG, "gname", b"root"))  # tarfile's empty uname beside a name


def _blocks(data: bytes) -> list[int]:
    """The offsets of the header blocks of the first member (extended first)."""
    at, found = 0, []
    while True:
        found.append(at)
        if data[at + 156 : at + 157] not in (b"x", b"L"):
            return found
        at += 512 + -(-int(data[at + 124 : at + 135], 8) // 512) * 512


def _set(data: bytes, at: int, field: str, value: bytes) -> bytes:
    """The header block at `at` with `field` set (NUL-padded) and its checksum recomputed."""
    start, end = tarextended._FIELDS[field] if field != "chk" else (148, 156)
    block = bytearray(data[at : at + 512])
    block[start:end] = value.ljust(end - start, b"\0")
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return data[:at] + bytes(block) + data[at + 512 :]


def _behind(data: bytes, field: str, value: bytes) -> bytes:
    return _set(data, _blocks(data)[-1], field, value)


def _own(data: bytes, field: str, value: bytes) -> bytes:
    return _set(data, _blocks(data)[0], field, value)


PAX = _tarfile(ACCENTED, tarfile.PAX_FORMAT)
PAX_LONG = _tarfile(LONG, tarfile.PAX_FORMAT)
GNU_LONG = _tarfile(LONG, tarfile.GNU_FORMAT)
OWNED = _tarfile("a.csv", tarfile.PAX_FORMAT, uid=3_000_000, uname="\u00e9t\u00e9-" + "o" * 40)
BEHIND = "not what tarfile or GNU tar write there"


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (_behind(PAX, "name", b"PAYLOAD" * 14), "pax record path is " + BEHIND),
        (_behind(PAX, "name", ACCENTED.encode()[:-1]), "pax record path is"),  # the name cut short
        (_behind(PAX_LONG, "name", LONG.encode()[-100:]), "pax record path is"),  # its last 100 bytes
        (_behind(PAX, "prefix", b"PAYLOAD"), "pax record path \\(the prefix\\)"),
        (_behind(PAX, "mtime", b"%011o" % 1_699_999_999), "pax record mtime is"),
        (_behind(OWNED, "uid", b"%07o" % 1234), "pax record uid is"),
        (_behind(OWNED, "uname", b"PAYLOAD"), "pax record uname is"),
        (_own(PAX, "uname", b"PAYLOAD"), "pax header holds in its uname"),
        (_own(PAX, "gname", b"root"), "pax header holds in its gname"),
        (_own(PAX, "mode", b"0000644"), "pax header holds in its mode"),  # tarfile's name, GNU tar's mode
        (_own(PAX, "mtime", b"%011o" % 1_700_000_000), "pax header holds in its mtime"),
        (_own(PAX, "uid", b"0001750"), "pax header holds in its uid"),
        (_own(PAX, "devices", b"0000000\0" * 2), "pax header holds in its devices"),
        (_own(GNU_LONG, "uname", b"PAYLOAD"), "long name header holds in its uname"),
        (_own(GNU_LONG, "name", b"././@LongLinX"), "long name header holds in its name"),
        (_own(GNU_LONG, "mtime", b"%011o" % 1_700_000_000), "long name header holds in its mtime"),
        (_behind(GNU_LONG, "name", b"PAYLOAD" * 14), "not its first 100 \\(or 99\\) bytes"),
        (_behind(GNU_LONG, "name", LONG.encode()[:98]), "not its first 100 \\(or 99\\) bytes"),
        (_behind(GNU_LONG, "magic", b"ustar\x0000"), "member's own header holds in its magic"),
    ],
)
def test_each_hidden_field_is_refused_naming_it(data, rule):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:  # what readers show is unchanged
        assert tar.extractfile(tar.getmembers()[-1]).read() == CSV
    with pytest.raises(Invalid, match=rule):
        vet(data, 7)


def test_the_writers_own_spellings_pass():
    """tarfile's '?'-replaced uname; a time rounded; GNU tar's long name owned by root (or
    wheel, or nameless) with mode 0644; oldgnu's 99 bytes. GNU tar's cut uname and
    truncated time behind tarfile's pax header are refused: one writer an archive, and a
    member (session 39, tarwriter; GNU tar's own pass in the controls above)."""
    assert OWNED[_blocks(OWNED)[-1] + 265 : _blocks(OWNED)[-1] + 270] == b"?t?-o"
    assert vet(OWNED) and vet(_behind(PAX, "mtime", b"%011o" % 1_700_000_001))  # tarfile rounds .7
    for mixed in (
        _behind(OWNED, "uname", ("\u00e9t\u00e9-" + "o" * 40).encode()[:31]),
        _behind(PAX, "mtime", b"%011o" % 1_700_000_000),  # GNU tar truncates .7
    ):
        with pytest.raises(Invalid, match="tarfile and GNU tar write one way an archive"):
            vet(mixed)
    gnu_own = _own(_own(_own(GNU_LONG, "mode", b"0000644"), "uname", b"root"), "gname", b"wheel")
    assert vet(gnu_own)
    with pytest.raises(Invalid, match="long name header holds in its uname"):
        vet(_own(gnu_own, "uname", b"wheel"))
    assert vet(_behind(GNU_LONG, "name", LONG.encode()[:99]))


def test_numbers_that_do_not_fit_are_zero_in_the_field():
    """Both writers put a size of 8 GiB or more, or a uid of 2^21 or more, in a record and 0 in the field."""
    assert tarextended._DERIVED["size"](b"8589934592") == {b"%011o\0" % 0}
    assert tarextended._DERIVED["size"](b"8589934591") == {b"77777777777\0"}
    assert tarextended._DERIVED["uid"](b"3000000") == {b"0000000\0"}
    assert tarextended._DERIVED["mtime"](b"-5.5") == {b"%011o\0" % 0}
    assert OWNED[_blocks(OWNED)[-1] + 108 : _blocks(OWNED)[-1] + 116] == b"0000000\0"  # tarfile's own


def _twice(data: bytes) -> bytes:
    """The member's extended header and its data written twice (readers keep the last)."""
    blocks = _blocks(data)
    return data[: blocks[-1]] + data[: blocks[-1]] + data[blocks[-1] :]


def test_one_extended_header_a_member():
    for data in (_twice(PAX), _twice(GNU_LONG)):
        with pytest.raises(Invalid, match="has 2 extended headers"):
            vet(data)


def test_pax_records_in_no_writers_order_are_refused():
    data = _tarfile(ACCENTED, tarfile.PAX_FORMAT, uid=3_000_000)
    x = _blocks(data)[0]
    size = int(data[x + 124 : x + 135], 8)
    records = data[x + 512 : x + 512 + size]
    lines = records.splitlines(keepends=True)
    assert [line.split(b"=")[0].split(b" ")[1] for line in lines] == [b"path", b"uid", b"mtime"]
    swapped = b"".join([lines[1], lines[0], lines[2]])
    with pytest.raises(Invalid, match="pax records uid, path, mtime are in an order neither tarfile"):
        vet(data[: x + 512] + swapped + data[x + 512 + size :])


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("1700000000.5", True),  # GNU tar (trailing zeros stripped) and tarfile (a float's repr)
        ("1700000000.0", True),  # tarfile: str() of a whole float
        ("1700000000", True),  # GNU tar: no nanoseconds
        ("1700000000.123456789", True),
        ("1700000000.50", False),  # the same time spelled with a digit neither writer adds
        ("1700000000.000000000", False),
    ],
)
def test_a_pax_time_is_spelled_as_a_writer_spells_it(value, written):
    data = _pax_tar(_record("mtime", value))
    if written:
        assert vet(data)
    else:
        with pytest.raises(Invalid, match="pax record 'mtime'"):
            vet(data)


def test_the_checksum_is_the_unsigned_sum():
    """A header with bytes over 127 (GNU tar's UTF-8 name): readers accept the signed sum
    too, which neither writer writes (a bit a header)."""
    data = _tarfile(ACCENTED, tarfile.GNU_FORMAT)
    block = bytearray(data[:512])
    assert int(block[148:154], 8) == sum(block[:148]) + 256 + sum(block[156:])
    block[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in block)
    block[148:156] = b"%06o\0 " % signed
    other = bytes(block) + data[512:]
    with tarfile.open(fileobj=io.BytesIO(other)) as tar:
        assert tar.getnames() == [ACCENTED]
    with pytest.raises(Invalid, match="the checksum: the unsigned sum"):
        vet(other)


def test_base_256_numbers_only_where_octal_cannot_hold_them():
    """GNU format: an AD-mapped uid (1846201104) and an mtime before 1970 in base-256, as
    tarfile and GNU tar write them, pass (session 39, attack o content); any other spelling
    of a number in base-256 (one octal holds, a negative uid, a ustar header's) is refused."""
    data = _tarfile("a.csv", tarfile.GNU_FORMAT, uid=1_846_201_104, gid=1_846_200_513, mtime=-86_400)
    at = _blocks(data)[-1]
    assert data[at + 108] == 0x80 and data[at + 136] == 0xFF
    assert vet(data)
    refused = {
        "uid": b"\x80" + (1000).to_bytes(7, "big"),  # octal holds 1000
        "gid": (-5).to_bytes(8, "big", signed=True),  # no negative owner
        "mtime": b"\x80" + (5).to_bytes(11, "big"),
        "size": b"\x80" + len(CSV).to_bytes(11, "big"),
    }
    for field, raw in refused.items():
        with pytest.raises(Invalid, match=f"the {field} of 'a.csv' is not written as tar writes it"):
            vet(_behind(data, field, raw))
    ustar = _tarfile("a.csv", tarfile.USTAR_FORMAT)
    with pytest.raises(Invalid, match="the uid of 'a.csv' is not written"):
        vet(_behind(ustar, "uid", b"\x80" + (1_846_201_104).to_bytes(7, "big")))


def _devices(data: bytes, value: bytes) -> bytes:
    """The first header with devmajor and devminor set (16 bytes), checksum recomputed."""
    block = bytearray(data[:512])
    block[329:345] = value
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block) + data[512:]


def test_an_archive_keeps_one_format_and_one_spelling_of_device_fields():
    """tarfile and GNU tar write one format an archive, device fields alike (session 39,
    attack o content): a GNU member then a ustar one, or zeros after empties, is refused."""
    gnu, ustar = _tarfile("a.csv", tarfile.GNU_FORMAT), _tarfile("b.csv", tarfile.USTAR_FORMAT)
    zeros = _devices(ustar, b"0000000\0" * 2)  # GNU tar's ustar spelling; tarfile's are empty
    assert ustar[329:345] == b"\0" * 16 and vet(ustar) and vet(zeros)
    for mixed in (gnu[:1024] + ustar, ustar[:1024] + zeros):
        with pytest.raises(Invalid, match="another format \\(magic\\) or device fields"):
            vet(mixed)


OWNER_ESC = "\x1b[2J\x1b]0;pwned\x07"  # clears the screen, retitles the window


@needs_tar
@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_an_owner_name_that_drives_a_terminal_is_refused(tmp_path, fmt):
    """`tar tv` prints uname/gname raw (GNU tar quotes a member's name, not its owner's):
    the terminal-strings rule (terminal.py) judges them, in the header and in a pax record
    (session 40, attack q content's tar/uname.tar, gname.tar, pax-uname.tar)."""
    root = _tree(tmp_path)
    for option in (f"--owner={OWNER_ESC}:1000", f"--group={OWNER_ESC}:1000"):
        data = _gnu_tar(root, f"--format={fmt}", option)
        listed = subprocess.run(["tar", "tvf", "-"], input=data, capture_output=True, check=True).stdout
        assert b"\x1b[2J" in listed  # the harm: the listing clears the screen
        with pytest.raises(Invalid, match=r"tar: the (pax )?[ug]name (record )?of .* holds a control character \(U\+001B"):
            vet(data, 7)


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"uname": OWNER_ESC}, "the uname of 'a.csv' holds a control character (U+001B, at 0)"),
        ({"gname": "\x1b[9A\x1b[2K"}, "the gname of 'a.csv' holds a control character (U+001B, at 0)"),
        ({"uname": "o" * 40 + "\x1b[2J"}, "the pax uname record of 'a.csv' holds a control character (U+001B, at 40)"),
        ({"gname": "\u00fcn\u009b2J"}, "the pax gname record of 'a.csv' holds a control character (U+009B"),
        ({"uname": "bob\x7f"}, "the uname of 'a.csv' holds a control character (U+007F"),
    ],
)
def test_tarfile_owner_controls_are_refused(fields, rule):
    """tarfile writes what it is given: past the 32 bytes of the field only the pax record
    holds the control (the field's cut copy is clean)."""
    data = _tarfile("a.csv", tarfile.PAX_FORMAT, **fields)
    with pytest.raises(Invalid, match=re.escape(f"tar: {rule}")):
        vet(data)
    if "\x1b" in "".join(fields.values()):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            assert "\x1b" in tar.getmembers()[0].uname + tar.getmembers()[0].gname


def test_owner_names_with_tab_accents_and_bidi_pass():
    """Controls: TAB is not refused by the rule; accents, CJK and an RLM are text."""
    for name in ("\u00e9t\u00e9", "\u5c71\u7530", "a\tb", "\u05d3\u05e0\u05d4\u200f"):
        assert vet(_tarfile("a.csv", tarfile.PAX_FORMAT, uname=name, gname=name)), name
        assert vet(_tarfile("a.csv", tarfile.GNU_FORMAT, uname=name[:8], gname=name[:8])), name
