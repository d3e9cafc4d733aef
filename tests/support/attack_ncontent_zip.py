"""zip files for test_attack_independent_ncontent.py: member names Info-ZIP's unzip on a
Linux host (Debian's UnZip 6.00) writes differently from the UTF-8 name vmguard judges.

UnZip on Unix converts every member name of an archive whose 'version made by' is MS-DOS
(host 0, what Python's zipfile writes on Windows: ZipInfo.create_system is 0 there) from
the OEM code page (cp437) to ISO-8859-1, even when the UTF-8 flag (bit 11) is set. Box
drawing bytes become ASCII (`0xC4` and `0xCA` '-', `0xBB` `0xBC` `0xBF` '+', `0xD5` 'i')
and 0x98 is dropped (`\u0718` DC 98 is '_'), so the UTF-8 bytes of `Ę` (C4 98) unpack as '-', of `û` (C3 BB) as
'++': a name vmguard reads as `ĘĘcheckpoint=1` is `--checkpoint=1` on disk, `aû.csv` is
`a++.csv`. Measured here with the host's unzip (`unpacked`).
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
import warnings
import zipfile
from pathlib import Path

E_OGONEK = "\u0118"  # UTF-8 C4 98: '-' then nothing to UnZip on Unix
U_CIRC = "\u00fb"  # UTF-8 C3 BB: '++'
SYRIAC_WAW = "\u0718"  # UTF-8 DC 98: '_' then nothing
WHEN = (2024, 5, 6, 7, 8, 10)


def made(members: list[tuple[str, bytes]], host: int) -> bytes:
    """Python's zipfile, every member deflated, 'version made by' host `host` (0: as on
    Windows, external attributes 0; 3: as on Linux, mode 0644)."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        warnings.simplefilter("ignore", UserWarning)  # a twin's duplicate name, on purpose
        for name, data in members:
            info = zipfile.ZipInfo(name, WHEN)
            info.create_system = host
            info.external_attr = (0o644 << 16) if host == 3 else 0
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def unflagged(name: bytes, data: bytes, host: int) -> bytes:
    """One member whose name is `name`'s bytes without the UTF-8 flag (as Info-ZIP's zip
    writes a UTF-8 name), written by zipfile under an ASCII stand-in of the same length
    that is then replaced in the local header and the central directory."""
    stand_in = "Q" * len(name)
    data = made([(stand_in, data)], host)
    assert data.count(stand_in.encode()) == 2
    return data.replace(stand_in.encode(), name)


def unpacked(data: bytes) -> dict[bytes, bytes]:
    """What `unzip -o` writes (path bytes -> content); {} where unzip is missing."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "z.zip").write_bytes(data)
        try:
            subprocess.run(["unzip", "-q", "-o", "z.zip", "-d", "out"], cwd=tmp, capture_output=True,
                           stdin=subprocess.DEVNULL, check=False, timeout=30)  # fmt: skip
        except FileNotFoundError:
            return {}
        out = {}
        root = os.path.join(tmp, "out")
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                path = os.path.join(dirpath, f)
                out[os.fsencode(os.path.relpath(path, root))] = Path(path).read_bytes()
        return out


HIDDEN = b"run,payload\n1,the bytes the first member published\n"
SHOWN = b"x,y\n1,2\n"

# name -> (zip bytes, the path UnZip writes, what vmguard judged)
HOSTILE: dict[str, tuple[bytes, bytes, str]] = {
    "zip-n-dos-option-checkpoint.zip": (
        made([(f"{E_OGONEK}{E_OGONEK}checkpoint=1", b"x\n")], 0),
        b"--checkpoint=1",
        "an option name (`--checkpoint=1`, the docs' own example: GNU tar's `tar cf x.tar *` in the unpacked directory takes it)",
    ),
    "zip-n-dos-option-dash.zip": (
        made([(f"{E_OGONEK}x.csv", SHOWN)], 0),
        b"-x.csv",
        "an option name (`-x.csv`)",
    ),
    "zip-n-dos-option-rf.zip": (
        made([(f"{E_OGONEK}rf", b"x\n")], 0),
        b"-rf",
        "an option name (`-rf`: `rm *` in the unpacked directory)",
    ),
    "zip-n-dos-unflagged-option.zip": (
        unflagged(f"{E_OGONEK}{E_OGONEK}checkpoint=1".encode(), b"x\n", 0),
        b"--checkpoint=1",
        "an option name; the name is unflagged UTF-8, which the zip row judges as 'its bytes as unzip "
        "on Unix keeps them and their cp437 reading' (`\u2500\xff\u2500\xffcheckpoint=1`): unzip keeps neither",
    ),
    "zip-n-dos-config-init-vis.zip": (
        made([(f"init{SYRIAC_WAW}vis.mac", b"/run/beamOn 10\n")], 0),
        b"init_vis.mac",
        "a configuration name (`init_vis.mac`: Geant4's examples run it from the directory they start in)",
    ),
    "zip-n-dos-collide.zip": (
        made([(f"a{U_CIRC}.csv", HIDDEN), ("a++.csv", SHOWN)], 0),
        b"a++.csv",
        "two members of one path (`a\u00fb.csv` and `a++.csv` both unpack to `a++.csv`, the last wins: the first's bytes are published and never seen)",
    ),
}


def twins() -> dict[str, bytes]:
    """Each hostile zip as UnZip unpacks it, made on Linux (host 3: the names as written):
    vmguard's name rules refuse these, so the hostile ones pass only by the conversion."""
    return {
        "twin-n-option-checkpoint.zip": made([("--checkpoint=1", b"x\n")], 3),
        "twin-n-option-dash.zip": made([("-x.csv", SHOWN)], 3),
        "twin-n-option-rf.zip": made([("-rf", b"x\n")], 3),
        "twin-n-config-init-vis.zip": made([("init_vis.mac", b"/run/beamOn 10\n")], 3),
        "twin-n-collide.zip": made([("a++.csv", HIDDEN), ("a++.csv", SHOWN)], 3),
    }


# Real output: Info-ZIP's zip on Linux (non-ASCII name unflagged), Python's zipfile as on
# Linux and as on Windows (host 0) with ASCII names.
def controls(work: Path) -> dict[str, bytes]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "a.csv").write_bytes(SHOWN)
    (work / "caf\u00e9.csv").write_bytes(b"x\n1\n")
    files = {
        "ctl-n-zipfile-linux.zip": made([("a.csv", SHOWN), ("caf\u00e9.csv", b"x\n1\n")], 3),
        "ctl-n-zipfile-windows.zip": made([("a.csv", SHOWN), ("cafe.csv", b"x\n1\n")], 0),
    }
    for name, argv in (
        ("ctl-n-infozip.zip", ["zip", "-q", "-X"]),
        ("ctl-n-infozip-extra.zip", ["zip", "-q"]),
    ):
        out = work / name
        subprocess.run([*argv, str(out), "a.csv", "caf\u00e9.csv"], cwd=work, check=True,
                       env=dict(os.environ, LC_ALL="C.UTF-8"))  # fmt: skip
        files[name] = out.read_bytes()
    return files


def windows_non_ascii() -> dict[str, bytes]:
    """zipfile as on Windows (host 0) with a flagged `café.csv`: UnZip on Unix unpacks it
    as `caf+®.csv` in Latin-1 bytes, not the name judged: refused since session 38 (the zip
    row: a non-ASCII name in an entry made by MS-DOS)."""
    return {"ctl-n-zipfile-windows-cafe.zip": made([("a.csv", SHOWN), ("caf\u00e9.csv", b"x\n1\n")], 0)}


def jar(work: Path) -> dict[str, bytes]:
    """`jar cfM` (no manifest): Java marks the first entry with its 0xCAFE extra field,
    which the zip row refuses (only 0x5455 and 0x7875)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "a.csv").write_bytes(SHOWN)
    try:
        subprocess.run(
            ["jar", "cfM", "j.zip", "a.csv"], cwd=work, check=True, capture_output=True, timeout=60
        )
    except (FileNotFoundError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return {}
    return {"ctl-n-jar-cfm.zip": (work / "j.zip").read_bytes()}
