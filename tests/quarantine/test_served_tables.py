"""served.py's tables come from complete sources, and the names gunzip makes are judged:
the generated page table is what its sources give, every markup- or script-like type of a
source is classified, the names gunzip really creates are the ones served.py predicts, and
real gzip and tar output under those names is refused or published as it should be."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine import pagetypes, served
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.served_pages import JSON_NAMES, PAGES

HOST_TYPES = Path("/etc/mime.types")


def test_the_page_table_is_what_its_sources_give():
    assert pagetypes.derive(pagetypes.sources()) == PAGES, "stale: python -m vmguard.quarantine.pagetypes"
    assert pagetypes.derive_json(pagetypes.sources()) == JSON_NAMES, "stale: python -m vmguard.quarantine.pagetypes"
    assert pagetypes.TABLE.read_text() == pagetypes.render(PAGES, JSON_NAMES)


def test_every_markup_or_script_type_of_the_sources_is_classified():
    assert pagetypes.unclassified(pagetypes.sources()) == []
    extra = pagetypes.EXTRA.values()
    assert [t for t in extra if not (pagetypes.renders(t) or pagetypes.announces_json(t))] == []


@pytest.mark.skipif(not HOST_TYPES.exists(), reason="no /etc/mime.types on this host")
def test_the_hosts_mime_types_add_no_page_extension():
    """A web server of this host types by its /etc/mime.types: each page extension in it is
    in the frozen table (a newer media-types than the kept copy fails here)."""
    host = pagetypes.mime_types(HOST_TYPES.read_text())
    assert pagetypes.unclassified([host]) == []
    assert sorted(set(pagetypes.derive([host])) - set(PAGES)) == []


def test_the_classification_catches_a_new_type():
    """Controls: a source with a new +xml type adds its extension; a markup-like type that
    is neither rendered nor INERT is reported."""
    source = pagetypes.mime_types("application/vnd.new-thing+xml  ntx\n# x\napplication/vnd.htmlzip  hz\n")
    assert pagetypes.derive([source])["ntx"] == "application/vnd.new-thing+xml"
    assert pagetypes.unclassified([source]) == []  # htmlzip says html: rendered
    source = pagetypes.mime_types("application/vnd.new-script  nsc\napplication/xml-external-parsed-entity ent\n")
    assert pagetypes.unclassified([source]) == ["application/vnd.new-script"]
    assert "nsc" not in pagetypes.derive([source]) and "ent" not in pagetypes.derive([source])


@pytest.mark.parametrize(
    ("mime", "rendered"),
    [
        ("text/html", True), ("application/xhtml+xml", True), ("image/svg+xml", True),
        ("application/mathml+xml", True), ("text/xml", True), ("text/javascript", True),
        ("application/pdf", True), ("message/rfc822", True), ("text/jscript", True),
        ("text/webviewhtml", True), ("application/json", False),
        ("text/plain", False), ("text/csv", False), ("application/xml-dtd", False),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", False),
        ("image/fits", False), ("application/gzip", False),
    ],
)  # fmt: skip
def test_what_a_browser_renders(mime, rendered):
    assert pagetypes.renders(mime) is rendered


def test_the_labs_extensions_are_in_no_table():
    lab = "dat out lhe hepmc root csv log txt json fits fit fts h5 hdf5 nc gz tgz tar zip tsv yaml npy png"
    assert [e for e in lab.split() if e in PAGES or e in served.WINDOWS_ACTIVE] == []


@pytest.mark.parametrize(
    "name",
    ["run.bat.z", "run.bat.Z", "run.bat-gz", "run.bat_z", "run.bat-z", "run.bat.GZ", "run.bat-GZ",
     "x.tgz", "x.TAZ", "x.csv.gz.gz", "x.gz", "x.zip", "z", ".gz", "events_z"],
)  # fmt: skip
def test_gunzip_makes_the_name_served_predicts(tmp_path, name):
    """The oracle is gunzip itself: the file it creates from a gzip of this name."""
    gzip = shutil.which("gzip")
    if gzip is None:
        pytest.skip("no gzip")
    data = subprocess.run([gzip, "-n", "-c"], input=b"x\n", capture_output=True, check=True).stdout
    (tmp_path / name).write_bytes(data)
    subprocess.run([gzip, "-d", "-f", "-q", name], cwd=tmp_path, capture_output=True, check=False)
    made = sorted(p.name for p in tmp_path.iterdir())
    expected = served.gunzipped(name)
    assert made == sorted([expected if expected is not None else name]), made


def _gnu_gzip(where: Path, name: str, suffix: str, body: bytes) -> tuple[str, bytes]:
    """`gzip -n -S suffix name`: GNU gzip's own output under that suffix (no FNAME)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_bytes(body)
    subprocess.run(["gzip", "-n", "-f", "-S", suffix, name], cwd=where, check=True)
    return f"{name}{suffix}", (where / f"{name}{suffix}").read_bytes()


@pytest.mark.skipif(shutil.which("gzip") is None, reason="no gzip")
def test_real_gzip_output_under_every_suffix(tmp_path):
    """What gunzip makes of the name decides: run.bat.z is run.bat (refused), page.atom_z
    is page.atom (a page); events.csv_z is a CSV (published byte for byte), and so is a
    tar member of either kind. One directory a suffix: .z and .Z would collide."""
    made = tmp_path / "made"
    files = {}
    for i, suffix in enumerate((".z", "-gz", "_z", ".Z", "-z", ".gz")):
        for name, body in (("run.bat", b"start calc.exe\r\n"), ("events.csv", b"a,b\n1,2\n" * 20)):
            gz, data = _gnu_gzip(made / str(i), name, suffix, body)
            files[f"s{i}/{gz}"] = data
    files["page.atom_z"] = _gnu_gzip(made / "atom", "page.atom", "_z", b"<feed/>\n")[1]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for member in ("run.bat.z", "events.csv_z"):
            tar.add(next(made.rglob(member)), arcname=member)
    files["packed.tar"] = out.getvalue()
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("text", "gzip", "tar")))
    refused = {n for n, e in entries.items() if e.verdict is not Verdict.ACCEPTED}
    assert refused == {n for n in files if "run.bat" in n} | {"page.atom_z", "packed.tar"}, entries
    for name in refused:
        assert entries[name].reasons == (Reason.NAME_TYPE,), entries[name]
    for name in refused - {"page.atom_z", "packed.tar"}:
        assert "gunzip makes it run.bat: the name ends in .bat" in entries[name].detail, entries[name]
    assert "the name holds .atom" not in entries["page.atom_z"].detail
    assert "gunzip makes it page.atom: the name ends in .atom" in entries["page.atom_z"].detail
    assert "archive member run.bat.z: gunzip makes it run.bat" in entries["packed.tar"].detail
    assert "events.csv_z" not in entries["packed.tar"].detail
    for name in set(files) - refused:
        assert (tmp_path / "pub" / "run1" / name).read_bytes() == files[name]


@pytest.mark.parametrize(
    ("name", "client"),
    [("a.py", "Windows"), ("a.jnlp", "Windows"), ("a.rdp", "Windows"), ("a.search-ms", "Windows"),
     ("a.docm", "Windows"), ("a.pssc", "Windows"), ("a.udl", "Windows"), ("a.iqy", "Windows"),
     ("a.slk", "Windows"), ("a.xlm", "Windows"), ("a.ica", "Windows"), ("a.xhtm", "application/xhtml+xml"), ("a.kml", "+xml"),
     ("a.es", "javascript"), ("a.mml.lhe", "holds .mml"), ("a.eml", "message/rfc822"),
     ("shell.php-gz", "gunzip makes it shell.php: the name holds .php"), ("x.taz", "bytes are text")],
)  # fmt: skip
def test_the_detail_names_the_client(name, client):
    (found,) = served.name_reasons(name, ("text",))
    assert found[0] is Reason.NAME_TYPE and client in found[1] and "rename" in found[1]
