"""The names a client gives a file for the name the guest wrote: what Windows writes or
opens (its stream cut at ':' and trailing dots and spaces dropped), IIS 6's handler choice
(the name cut at ';'), and what a Windows program converting names to its ANSI code page
makes of them (NFKC, Windows' best fit). Every rule on what a client makes of a name
judges each form: names.py (dot, option and configuration names, collisions) and
served.py (what the name makes of the file's type)."""

from __future__ import annotations

import unicodedata

# Windows' best-fit mapping (WideCharToMultiByte without WC_NO_BEST_FIT_CHARS: what an ANSI
# program, an unzipper, a downloader, a globbing tool, gets of a Unicode name) goes beyond
# NFKC (Microsoft's bestfit1252.txt, bestfit932.txt, bestfit949.txt; the WorstFit research,
# Orange Tsai and Splitline, 2025): letters with marks the code page lacks become the bare
# letter (best_fit drops every combining mark), dotless i becomes i, and these look-alikes
# become ASCII: RATIO ':', MINUS SIGN and HYPHEN '-', DIVISION SLASH '/', and in cp932
# (Japanese) and cp949 (Korean) YEN SIGN and WON SIGN are the byte 0x5C, their backslash:
# a path separator there.
_BEST_FIT = str.maketrans(
    {"\u2236": ":", "\u2212": "-", "\u2010": "-", "\u2215": "/", "\u0131": "i"}
    | {"\u00a5": "\\", "\u20a9": "\\"}
)


def windows_name(name: str) -> str:
    """The name of the file a Windows client writes or opens for this name. NTFS reads
    what follows the first ':' as a data stream of the file named before it:
    `run.bat::$DATA` is run.bat's own bytes (its default stream), `run.cmd:x` a stream
    of run.cmd, `d::$INDEX_ALLOCATION` the directory d; a client that keeps the name (scp or
    sftp to a Windows host, tarfile.extractall there) writes that file. Win32 (Explorer, an
    SMB client, unzip and 7-Zip there, a browser's download) also drops a name's trailing
    dots and spaces, so `run.bat.` runs as run.bat and `run.bat.gz.` is gunzipped to run.bat.
    Every rule on what a client makes of a name (acted_on, sibling_reasons, served.py)
    judges this form too. Short 8.3 names (RUN~1.BAT) are the client filesystem's own, not
    the guest's to choose."""
    return name.partition(":")[0].rstrip(". ")


def windows_stream(name: str) -> str:
    """Which NTFS stream of windows_name's file the name writes: "" for the file's own
    bytes (no ':', `x::$DATA`, a directory's `::$INDEX_ALLOCATION`), else the stream's
    name, whatever its type (`x:s` and `x:s:$DATA` are one stream), in lower case as NTFS
    compares stream names."""
    return name.partition(":")[2].partition(":")[0].lower()


def client_names(name: str) -> tuple[str, ...]:
    """Each name a client may give the file: as Windows has it (windows_name), and as
    written (Linux, macOS, a web server; a browser saves `x:y.bat` as x_y.bat); as IIS 6
    chooses its handler, by the name cut at the first ';' (`x.asp;.txt` runs as x.asp);
    and all of these of its NFKC form, what a Windows program converting names to its ANSI
    code page makes of fullwidth look-alikes (`run．ｂａｔ` is run.bat, `web.config：：$DATA`
    web.config), and of its best_fit form (`run.bāt` is run.bat). Every rule on what a
    client makes of a name judges each (empty ones left out)."""
    if name.isascii() and ":" not in name and ";" not in name and not name.endswith((".", " ")) and name:
        return (name,)  # most names: every form is the name itself (no tuple of generators)
    bases = (name,) if name.isascii() else (name, unicodedata.normalize("NFKC", name), best_fit(name))
    forms = (f for base in bases for f in (windows_name(base), base, windows_name(base.partition(";")[0])))
    return tuple(dict.fromkeys(filter(None, forms)))


def best_fit(name: str) -> str:
    """The name as Windows' best-fit mapping has it for an ANSI program (_BEST_FIT): its
    NFKD form without combining marks, the look-alikes replaced, then NFKC."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", bare.translate(_BEST_FIT))
