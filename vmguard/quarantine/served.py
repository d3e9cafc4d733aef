"""What a client of the public area takes a published file for, from its name alone.

A web server picks a file's Content-Type from its extension (mime.types; Apache's mod_mime
looks at every extension of "a.html.gz", not only the last), and a Windows client opens a
file with the program its last extension is associated with. So what a file does on a
client is chosen by its NAME, whatever its bytes are: a JSON or FITS file named .html is a
page, text named .vbs is a script a double click runs. vmguard validated the bytes as one
type; the name must not announce another one, nor a type a client runs.

One table, one question (`name_reasons`): refused are names whose last extension a
browser or Windows runs, names with an extension a browser runs anywhere after the first
dot, and names whose extension is one of the admitted families' while the validator that
admitted the bytes is another family's. An extension in none of the tables (.dat, .out,
.lhe, no extension) announces nothing: web servers send application/octet-stream.
The same question is asked of each file member of a tar or zip (content.py), which a
client that unpacks the archive gets as a file of that name.
"""

from __future__ import annotations

import mimetypes

from vmguard.quarantine.model import Reason


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# A browser renders or runs a file served with the type these extensions get (HTML, XML
# documents and stylesheets, SVG, script, MHTML, PDF and Flash with their own scripting).
BROWSER_ACTIVE = _words(
    "html htm xhtml xht shtml shtm phtml stm dhtml hta htc mht mhtml svg svgz xml xsl xslt "
    "xbl rdf js mjs cjs swf pdf xdp xfdf"
)
# Windows runs (or hands to an interpreter) a file with these extensions on a double click:
# PATHEXT, and Outlook's blocked-attachment list.
WINDOWS_ACTIVE = _words(
    "exe com bat cmd btm vbs vbe js jse wsf wsh wsc sct ws ps1 ps1xml ps2 ps2xml psc1 psc2 "
    "psd1 psm1 msc msh msh1 msh2 mshxml msi msp mst cpl scr pif lnk url reg inf ins isp "
    "application appref-ms gadget jar hlp chm diagcab library-ms settingcontent-ms "
    "theme themepack scf shb shs xll xbap ade adp mde mdb accde vsmacros vsw website "
    "iso img vhd vhdx appx appxbundle msix msixbundle"
)
# Extensions of the families vmguard admits -> the validators whose answer they name.
# JSON is text: a text name (a JSON-lines log) may hold it; a .json must be JSON.
_TEXT = ("text", "json")
FAMILIES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("txt", "text", "log", "csv", "tsv", "tab", "asc", "md", "rst"), _TEXT),
    **dict.fromkeys(("ini", "cfg", "conf", "yaml", "yml", "toml"), _TEXT),
    **dict.fromkeys(("json", "geojson"), ("json",)),
    **dict.fromkeys(("jsonl", "ndjson"), _TEXT),
    **dict.fromkeys(("fits", "fit", "fts"), ("fits",)),
    **dict.fromkeys(("h5", "hdf5", "hdf", "he5", "nc", "nc4"), ("hdf5",)),
    "root": ("root",),
    **dict.fromkeys(("gz", "tgz"), ("gzip",)),
    "tar": ("tar",),
    "zip": ("zip",),
}
_REMEDY = "rename it (e.g. to .txt or .dat) or leave it out"
# Python's built-in extension table only (no /etc/mime.types): the same answer on every host.
_STANDARD = mimetypes.MimeTypes()


def extensions(name: str) -> list[str]:
    """The extensions of a name, lower case, after the first dot. Windows drops trailing
    dots and spaces ("a.bat." runs as a.bat); a leading dot names a dot file, not an
    extension."""
    stem = name.rstrip(". ").lstrip(".")
    return [ext.lower() for ext in stem.split(".")[1:]]


def name_reasons(
    name: str, validators: tuple[str | None, ...], admitted: bool = True, chosen: str | None = None
) -> list[tuple[Reason, str]]:
    """Why a file of this name must not be published. `validators` checked its bytes: the
    file's, then what it holds (a gzip's inner file, named by the extension before .gz,
    which gunzip gives it). The name is compared with the bytes' families only when the
    bytes were `admitted`: otherwise the content's own reason says more. `chosen` is the
    file's MIME type when the policy names that exact type (`{type: application/pdf,
    validate: head-only}`): its own extension is then what the admin chose to publish."""
    exts = extensions(name)
    if not exts:
        return []
    last = exts[-1]
    if (last in BROWSER_ACTIVE or last in WINDOWS_ACTIVE) and not announces(last, chosen):
        client = "a browser runs it as a page or script" if last in BROWSER_ACTIVE else "Windows runs it"
        return [(Reason.NAME_TYPE, f"the name ends in .{last}: {client}, whatever its bytes; {_REMEDY}")]
    if inner := next((e for e in exts[:-1] if e in BROWSER_ACTIVE), None):
        return [
            (
                Reason.NAME_TYPE,
                f"the name holds .{inner}: a web server (Apache mod_mime) types the file by every "
                f"extension, and a browser runs .{inner}; {_REMEDY}",
            )
        ]
    named = [(last, validators[0] if validators else None)]
    if last in ("gz", "tgz") and len(validators) > 1:  # what gunzip writes: x.csv, x.tar
        named.append(("tar" if last == "tgz" else exts[-2] if len(exts) > 1 else "", validators[1]))
    found = (_mismatch(ext, validator) for ext, validator in named)
    return [(Reason.NAME_TYPE, why) for why in found if why and admitted]


def announces(ext: str, mime: str | None) -> bool:
    """Whether a web server types a file named .ext as exactly `mime`."""
    return mime is not None and _STANDARD.guess_type(f"x.{ext}")[0] == mime


def _mismatch(ext: str, validator: str | None) -> str | None:
    """What is wrong when a file named .ext holds bytes `validator` admitted, or None."""
    family = validator.partition(":")[0] if validator else None
    announced = FAMILIES.get(ext)
    if announced is None or family in announced:
        return None
    what = family or "a type no validator checks"
    return (
        f"the name ends in .{ext} (a client opens it as {'/'.join(announced)}) but its bytes "
        f"are {what}; rename it to the extension of what it is"
    )
