"""Names a client gives a file other than as written (issue #13, after attack g): NTFS reads
what follows a ':' as a stream of the file named before it (`run.bat::$DATA` is run.bat,
client_forms.windows_name), while a Linux server and a browser have the name as written; every
name rule judges both. And names a tool runs from the directory it starts in (Geant4's
init_vis.mac, latexmkrc, Octave's PKG_ADD, Stata's profile.do, SAS's autoexec.sas),
routines an analysis tool loads by name before its own (IDL .pro, Stata .ado), files a
desktop acts on when opened (Excel's .dqy, macOS's .terminal and .webloc, .desktop) and
scripts a server runs (.wsgi anywhere, twistd's .rpy). Real files through real vets:
GNU tar, Info-ZIP zip and GNU gzip write the archives; the lab's own names still pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import policy, published_files, write
from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine import served
from vmguard.quarantine.client_forms import windows_name, windows_stream
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.names import acted_on, sibling_reasons

STREAMS = {
    "run.bat::$DATA": "run.bat",
    "run.cmd:x": "run.cmd",
    "run.cmd:x:$DATA": "run.cmd",
    "page.hta::$data": "page.hta",
    "feed.xml. ::$DATA": "feed.xml",
    "d::$INDEX_ALLOCATION": "d",
    "x:": "x",
    ":x.bat": "",
}
# Refused under the name as written (a Linux web server, a browser's download: x_y.bat).
AS_WRITTEN = ("notes:x.php", "x:y.bat", "a:b.html", "x:y.bat.gz", "x:run.desktop")
STARTUP = ("init_vis.mac", "vis.mac", "gui.mac", "latexmkrc", "PKG_ADD", "PKG_DEL", "profile.do")
STARTUP += ("autoexec.sas", "sasv9.cfg", "GNUPLOT.INI", "Init_Vis.MAC. ", "latexmkrc::$DATA")
BY_EXTENSION = (
    "plot.pro", "reghdfe.ado", "lmymata.mlib", "plot.m", "fit.mlx", "Plot.M", "fit.mo", "f.mexa64", "app.wsgi", "notes.wsgi.txt",
    "res.rpy", "page.epy", "page.psp", "page.rvt", "ext.dll",
    "query.dqy", "query.rqy", "query.oqy", "launch.terminal", "launch.command", "launch.tool",
    "link.fileloc", "link.webloc", "link.inetloc", "link.ftploc", "link.afploc", "launch.desktop", "x.kdelnk",
    "documentmetadata-support.ltx", "t1enc.dfu", "pdflatex.fmt",
)  # fmt: skip
# The lab's names with a time or a ':' in them, and near misses of the tables.
LAB = (
    "run_0042.2024-12-04T10:00.dat", "run_10:30.log", "data_10:00.csv", "a:b.txt", "vis.mac.txt",
    "my_init_vis.mac", "profile.txt", "pro.txt", "gui.dat", "mac.csv", "terminal.log", "desktop.csv",
    "flux.p.txt", "f.p", "run.M.csv", "fit.m.txt", "labels.class.csv", "fit.pro.txt", "model.ado.log", "a.mo.dat", "x.mexa64.txt",
)  # fmt: skip


@pytest.mark.parametrize(("name", "opened"), STREAMS.items())
def test_windows_opens_the_file_before_the_first_colon(name, opened):
    assert windows_name(name) == opened


def test_the_stream_a_name_writes():
    streams = {"a": "", "a::$DATA": "", "a:S": "s", "a:s:$DATA": "s", "a:s:x": "s"}
    assert {n: windows_stream(n) for n in streams} == streams


@pytest.mark.parametrize("name", [n for n in STREAMS if "." in windows_name(n)])
def test_a_stream_of_an_active_name_is_refused(name):
    found = served.name_reasons(name, ("text",))
    assert [r for r, _ in found] == [Reason.NAME_TYPE], found
    assert f"ends in .{windows_name(name).rsplit('.', 1)[1].lower()}" in found[0][1]


@pytest.mark.parametrize("name", AS_WRITTEN)
def test_the_name_as_written_is_judged_too(name):
    validators = ("gzip", "text") if name.endswith(".gz") else ("text",)
    assert [r for r, _ in served.name_reasons(name, validators)] == [Reason.NAME_TYPE], name


def test_a_name_announcing_json_after_a_colon_holds_json():
    assert [r for r, _ in served.name_reasons("data.txt:x.json", ("text",))] == [Reason.NAME_TYPE]
    assert served.name_reasons("data.txt:x.json", ("json",)) == []


def test_one_file_once_its_default_stream_is_named_collides_other_streams_do_not():
    found = sibling_reasons(["a.csv", "A.CSV::$DATA", "run_10:00.dat", "run_10:30.dat", "b:s", "B:S:$DATA"])
    assert found == {n: [Reason.NAME_COLLISION] for n in ("a.csv", "A.CSV::$DATA", "b:s", "B:S:$DATA")}
    assert sibling_reasons(["HEAD::$DATA", "objects", "refs"]) == {"HEAD::$DATA": [Reason.NAME_CONFIG]}


@pytest.mark.parametrize("name", STARTUP)
def test_startup_names_are_config_names(name):
    assert acted_on(name) == [Reason.NAME_CONFIG]


@pytest.mark.parametrize("name", BY_EXTENSION)
def test_names_a_tool_desktop_or_server_acts_on_are_refused(name):
    found = served.name_reasons(name, ("text",))
    assert [r for r, _ in found] == [Reason.NAME_TYPE], found
    assert "rename it" in found[0][1]


@pytest.mark.parametrize(
    "name", ["init_vis.mac.gz", "rootlogon.C.z", "PKG_ADD-gz", "web.config.gz::$DATA", "graphics.cfg.gz", "mt-cmr.cfg.z"]
)
def test_gunzip_making_a_startup_name_is_refused(name):
    found = served.name_reasons(name, ("gzip", "text"))
    assert [r for r, _ in found] == [Reason.NAME_CONFIG], found
    assert "gunzip makes it" in found[0][1] and "rename it" in found[0][1]


def test_the_labs_names_pass():
    for name in LAB:
        assert acted_on(name) == [], name
        assert served.name_reasons(name, ("text",)) == [], name
    assert sibling_reasons(LAB) == {}


TARS = {"t-ads.tar": "run.bat::$DATA", "t-vis.tar": "init_vis.mac", "t-dqy.tar": "query.dqy"}
TARS |= {"t-ado.tar": "reghdfe.ado", "t-vis-gz.tar": "gz/init_vis.mac.gz"}
CTL_TIMES = ("run_10:00.dat", "run_10:30.dat")  # two streams of run_10 on Windows: no collision


def _made(tmp_path: Path) -> Path:
    """Files named as the cases, gzip'd by GNU gzip, packed by GNU tar and Info-ZIP zip."""
    made = tmp_path / "made"
    for name in ("run.bat::$DATA", "init_vis.mac", "query.dqy", "reghdfe.ado", *CTL_TIMES):
        write(made / name, "1 2\n")
    (made / "gz").mkdir()
    for name in ("init_vis.mac", "query.dqy"):
        shutil.copy(made / name, made / "gz" / name)
        subprocess.run(["gzip", "-n", name], cwd=made / "gz", check=True)
    for tar, member in TARS.items():
        subprocess.run(["tar", "cf", tar, member], cwd=made, check=True)
    subprocess.run(["tar", "cf", "ctl-times.tar", *CTL_TIMES], cwd=made, check=True)
    subprocess.run(["zip", "-q", "z-ads.zip", "run.bat::$DATA"], cwd=made, check=True)
    return made


@pytest.mark.skipif(not all(map(shutil.which, ("gzip", "tar", "zip"))), reason="no gzip, tar or zip")
def test_real_files_and_archives_under_such_names_through_vet(tmp_path):
    made = _made(tmp_path)
    q = tmp_path / "q"
    for path in made.rglob("*"):
        if path.is_file():
            write(q / path.relative_to(made), path.read_bytes())
    out = tmp_path / "pub" / "j"
    result = vmguard.vet(q, policy(allow_types=("text", "gzip", "tar", "zip")), out, per_file=True)
    entries = {e.path: e for e in result.entries}
    published = {*CTL_TIMES, "ctl-times.tar"}
    assert {p for p, e in entries.items() if e.verdict is Verdict.ACCEPTED} == published | {"gz"}, entries
    assert set(published_files(out)) == published
    config = {"init_vis.mac", "gz/init_vis.mac.gz", "t-vis.tar", "t-vis-gz.tar"}
    for path, entry in entries.items():
        if path not in published | {"gz"}:
            assert entry.reasons == ((Reason.NAME_CONFIG,) if path in config else (Reason.NAME_TYPE,)), entry
            assert "rename" in entry.detail, entry
    assert "run.bat::$DATA" in entries["t-ads.tar"].detail
    assert "run.bat::$DATA" in entries["z-ads.zip"].detail


def test_a_collision_names_the_rule_and_names_ntfs_cannot_create_do_not_collide(tmp_path):
    """`date -Iseconds` names (stream type not a $ type: no Windows file) are two files;
    a real collision's detail says the rule and the remedy (attack h found it empty)."""
    files = {"d/Run.csv": b"a\n", "d/run.csv": b"b\n", "d/2024-12-05T10:00:00.csv": b"c\n"}
    files |= {"d/2024-12-05T10:00:30.csv": b"d\n", "d/2024-12-05T10:00:00.json": b"[1]\n"}
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml"))
    for name in ("d/Run.csv", "d/run.csv"):
        entry = entries[name]
        assert entry.reasons == (Reason.NAME_COLLISION,) and "rename one of them" in entry.detail, entry
    for name in ("d/2024-12-05T10:00:00.csv", "d/2024-12-05T10:00:30.csv", "d/2024-12-05T10:00:00.json"):
        assert entries[name].verdict is Verdict.ACCEPTED, entries[name]


@pytest.mark.parametrize(
    ("name", "refused"),
    [("x.html.log", True), ("x.svg.dat", True), ("README.html.en", True), ("a.xhtml.lhe", True),
     ("abstract.es.txt", False), ("scan.dir.csv", False), ("fit.res.txt", False), ("x.html.csv", False),
     ("page.shtml.txt", True)],
)  # fmt: skip
def test_apache_types_by_the_rightmost_typed_extension(name, refused):
    """mod_mime sets the type by each extension in turn: a page's extension before the last
    makes a page only when no extension after it has a type (attack h: es.txt refused)."""
    assert bool(served.acted_on(name)) is refused, (name, served.acted_on(name))
