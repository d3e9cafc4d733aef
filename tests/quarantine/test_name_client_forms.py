"""The name classes attack i found, fixed at their rules (session 35): each mod_mime table
judges a page extension before the last (Apache httpd's own mime.types), IIS 6's ';' cut
and *.asp directories, Windows' best fit beyond NFKC (separators too), NTFS 8.3 aliases,
TeX and other clients' names, unflagged non-ASCII zip names; and shells and .so judged by
the last extension only. Functions first, then real vets of real files and archives."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.quarantine.test_formats import shipped, vet_files
from tests.support import attack_icontent_apache as apache
from tests.support.require import require
from vmguard.quarantine import pagetypes, served
from vmguard.quarantine.client_forms import best_fit, client_names
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.names import collisions, name_reasons, short_names
from vmguard.quarantine.validators.ziparchive import member_names

CSV = b"t,e\n0.5,12.25\n"


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("summary.html.md", "Apache httpd's own"),  # .md: Debian's text/markdown, not httpd's
        ("map.html.geojson", "Apache httpd's own"),
        ("run.html.h5", "Debian's"),  # typed by neither
        ("x.html.lhe", "Debian's"),
    ],
)
def test_a_page_extension_before_one_a_table_lacks_is_refused_naming_the_table(name, table):
    why = served.acted_on(name)
    assert why is not None and ".html" in why and table in why


@pytest.mark.parametrize(
    "name", ["abstract.es.txt", "scan.dir.csv", "x.html.json", "fit.v2.root", "a.htm.tsv"]
)
def test_an_extension_every_table_types_stops_the_page_before_it(name):
    assert served.acted_on(name) is None


def test_apache_types_mime_cct_w3d_as_pages():
    apache = pagetypes.mime_types(pagetypes.APACHE.read_text())
    assert "md" not in {e for exts in apache.values() for e in exts}  # the control: httpd types no .md
    for name in ("report.mime", "movie.cct", "scene.w3d"):
        assert served.acted_on(name) is not None, name


def test_the_vendored_apache_table_is_what_the_npm_package_holds(tmp_path):
    """vendor_apache takes httpd's file out of an npm tarball as it is (a real tar.gz of the
    layout `npm pack mime@1.2.11` gives), under one line naming it."""
    body = pagetypes.APACHE.read_text().partition("\n")[2]
    tarball = tmp_path / "mime-1.2.11.tgz"
    with tarfile.open(tarball, "w:gz") as out:
        info = tarfile.TarInfo("package/types/mime.types")
        info.size = len(body.encode())
        out.addfile(info, io.BytesIO(body.encode()))
    assert pagetypes.vendor_apache(tarball) == pagetypes.APACHE.read_text()


@pytest.mark.parametrize(
    ("name", "form"),
    [
        ("run.b\u0101t", "run.bat"),
        ("web.c\u014dnfig", "web.config"),
        ("desktop.\u0131n\u0131", "desktop.ini"),
        ("x.bat\u2236\u2236$DATA", "x.bat"),
        ("\u2212\u2212checkpoint=1", "--checkpoint=1"),
        ("x.asp;.txt", "x.asp"),
    ],
)
def test_client_names_hold_the_best_fit_and_iis_forms(name, form):
    assert form in client_names(name)


@pytest.mark.parametrize(
    "name", ["jp\u00a5..\u00a5run.txt", "kr\u20a9..\u20a9run.txt", "x\u2215..\u2215run.txt"]
)
def test_best_fit_separators_are_traversal(name):
    assert "\\" in best_fit(name) or "/" in best_fit(name)
    assert Reason.NAME_TRAVERSAL in name_reasons(name, 255)


@pytest.mark.parametrize(
    "name", ["caf\u00e9.csv", "run_\u03bc\u03bc.csv", "E_vs_m\u00b2.csv", "r\u00e9sum\u00e9.txt"]
)
def test_accented_lab_names_pass(name):
    assert name_reasons(name, 255) == [] and served.acted_on(name) is None


def test_short_names_are_ntfs_aliases_of_long_names_only():
    assert "GIT~1" in short_names(".git") and "NODE_M~1" in short_names("node_modules")
    assert "WEB~1.CON" in short_names("web.config")
    assert short_names("desktop.ini") == frozenset()  # 8.3 already: no alias


@pytest.mark.parametrize(
    ("name", "reason"),
    [("GIT~1", Reason.NAME_DOTFILE), ("git~4", Reason.NAME_DOTFILE), ("NODE_M~1", Reason.NAME_CONFIG),
     ("WEB~1.CON", Reason.NAME_CONFIG), ("HTACCE~1", Reason.NAME_DOTFILE)],
)  # fmt: skip
def test_an_alias_of_a_refused_name_is_refused(name, reason):
    assert name_reasons(name, 255) == [reason]


@pytest.mark.parametrize("name", ["RUN~1.TXT", "GIT~5", "DATA~1"])
def test_other_tilde_names_pass(name):
    assert name_reasons(name, 255) == []


@pytest.mark.parametrize(
    "name",
    ["authoryear.bbx", "english.lbx", "DIN.lco", "x.htr", "q.idq", "page.webarchive", "x.asp;.txt"],
)  # fmt: skip
def test_tool_loaded_and_server_run_names_are_refused(name):
    assert served.acted_on(name) is not None


@pytest.mark.parametrize(
    ("name", "refused"),
    [("run.sh.o4242", False), ("notes.so.txt", False), ("x.bash.log", False), ("setup.sh", True),
     ("m.so", True), ("m.pyd", True), ("x.fish", True), ("main.tex", False), ("calc.code.tex", False)],
)  # fmt: skip
def test_shells_and_modules_are_judged_by_the_last_extension(name, refused):
    assert (served.acted_on(name) is not None) is refused


@pytest.mark.parametrize("name", ["d.asp", "d.ASP", "x.php.d", "d.asp;x", "d.aspx"])
def test_a_directory_a_server_runs_what_is_below(name):
    assert served.directory_acted_on(name) is not None


@pytest.mark.parametrize("name", ["run.sh.d", "v1.2", "data", "x.html"])
def test_other_directories_are_not(name):
    assert served.directory_acted_on(name) is None


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _zip(members: dict[str, bytes], unflagged: str = "") -> bytes:
    """zipfile's archive; `unflagged`'s member name written without the UTF-8 flag (the
    flag cleared in both headers, as Info-ZIP on DOS writes a name)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, (2024, 12, 5, 10, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    raw = out.getvalue()
    if unflagged:  # zipfile sets the flag for non-ASCII names on write: clear it in the bytes
        raw = _clear_utf8_flags(raw, unflagged.encode())
    return raw


def _clear_utf8_flags(raw: bytes, name: bytes) -> bytes:
    data = bytearray(raw)
    for sig, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        at = data.find(sig)
        while at != -1:
            if data[at + name_at : at + name_at + len(name)] == name:
                data[at + flag_at + 1] &= ~0x08 & 0xFF  # bit 11 of the little-endian flags
            at = data.find(sig, at + 4)
    return bytes(data)


def test_real_vet_refuses_the_classes_and_publishes_the_lab_names(tmp_path: Path):
    files = {
        "iis6.asp/notes.txt": CSV,
        "GIT~1/config": b"[core]\n\tfsmonitor = calc\n",
        "run.b\u0101t": b"calc\r\n",
        "summary.html.md": b"<img src=x onerror=alert(1)>\n",
        "a.tar": _tar({"x.asp;.txt": b"x\n", "d.asp/n.txt": b"x\n"}),
        "b.tar": _tar({"ok/run.sh.o4242": b"done\n"}),
        # Info-ZIP's zip on Linux: UTF-8 bytes, no flag (`├⌐.csv` to zipfile): both names pass
        "c.zip": _zip({"\u00e9.csv": CSV}, unflagged="\u00e9.csv"),
        "d.zip": _zip({"\u00e9.csv": CSV}),  # flagged: one name to every reader
        # ... but as cp437 it is its flagged sibling's name: two members of one path
        "e.zip": _zip({"\u251c\u2310.csv": CSV, "\u00e9.csv": CSV}, unflagged="\u00e9.csv"),
        "run.sh.o4242": b"job 4242 done\n",
        "notes.so.txt": b"run 42\n",
    }
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("text", "tar", "zip")))
    accepted = {p for p, e in entries.items() if e.verdict is Verdict.ACCEPTED}
    assert accepted == {"b.tar", "c.zip", "d.zip", "run.sh.o4242", "notes.so.txt"}, {
        p: e.detail for p, e in entries.items() if p not in accepted
    }
    assert Reason.NAME_TYPE in entries["iis6.asp"].reasons and "IIS 6" in entries["iis6.asp"].detail
    assert entries["GIT~1"].reasons == (Reason.NAME_DOTFILE,)
    assert "IIS 6" in entries["a.tar"].detail and "x.asp;.txt" in entries["a.tar"].detail
    assert Reason.NAME_COLLISION in entries["e.zip"].reasons and "\u251c\u2310.csv" in entries["e.zip"].detail


@pytest.mark.parametrize(
    ("raw", "flags", "names"),
    [(b"a.csv", 0, ("a.csv",)), ("\u00e9.csv".encode(), 0x800, ("\u00e9.csv",)),
     ("\u00e9.csv".encode(), 0, ("\u00e9.csv", "\u251c\u2310.csv"))],
)  # fmt: skip
def test_an_unflagged_non_ascii_zip_name_is_both_readings(raw, flags, names):
    assert member_names(raw, flags) == names


@pytest.mark.parametrize(
    ("names", "name", "says"),
    [(["a.csv", "A.csv"], "a.csv", "A.csv to a case-insensitive reader (case)"),
     (["caf\u00e9.csv", "cafe\u0301.csv"], "caf\u00e9.csv", "a normalising reader"),
     (["a.csv", "a.csv."], "a.csv.", "the same file as a.csv to Windows"),
     (["datafile_long.csv", "DATAFI~1.CSV"], "DATAFI~1.CSV", "the NTFS 8.3 alias of datafile_long.csv"),
     (["datafile_long.csv", "DATAFI~1.CSV"], "datafile_long.csv", "DATAFI~1.CSV, is its NTFS 8.3 alias")],
)  # fmt: skip
def test_a_collision_names_the_other_entry_and_the_rule(names, name, says):
    assert says in collisions(names)[name]


def test_names_without_a_sibling_alias_or_spelling_do_not_collide():
    assert collisions(["datafile_long.csv", "DATAFI~1.TXT", "run~1.txt", "a.csv", "b.csv"]) == {}


def test_a_real_vet_says_which_sibling_collides(tmp_path: Path):
    files = {"d/Run.csv": CSV, "d/run.csv": CSV, "d/long_results.csv": CSV, "d/LONG_R~1.CSV": CSV}
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml"))
    assert "the same file as run.csv" in entries["d/Run.csv"].detail
    assert "the same file as Run.csv" in entries["d/run.csv"].detail
    assert "the NTFS 8.3 alias of long_results.csv" in entries["d/LONG_R~1.CSV"].detail
    assert all(
        entries[f"d/{n}"].reasons == (Reason.NAME_COLLISION,) for n in ("Run.csv", "run.csv", "LONG_R~1.CSV")
    )


def test_an_httpd_typing_by_its_own_table_sends_what_served_by_says():
    """The claim the per-table rule rests on, asked of a real Apache 2.4 configured as an
    upstream httpd (its own conf/mime.types, the vendored file, as TypesConfig): the page
    or JSON extension before one that table lacks decides; a typed last one decides."""
    require(apache.available(), "needs apache2-bin (./dev setup installs it)")
    sent_as = {
        "summary.html.md": "text/html", "notes.htm.markdown": "text/html", "run.html.h5": "text/html",
        "page.xhtml.md": "application/xhtml+xml", "map.html.geojson": "text/html",
        "report.mime": "message/rfc822", "movie.cct": "application/x-director", "x.json.bak": "application/json",
        "x.html.txt": "text/plain", "x.json.csv": "text/csv",
    }  # fmt: skip
    with apache.serving(sorted(sent_as), types=pagetypes.APACHE) as sent:
        assert {n: sent[n].split(";")[0] for n in sent_as} == sent_as
    for name, mime in sent_as.items():
        refused = served.acted_on(name) is not None or bool(served.name_reasons(name, ("text",)))
        assert refused is (mime not in ("text/plain", "text/csv")), name
