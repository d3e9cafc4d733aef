"""Names as a client has them (client_forms.windows_name): Win32 drops a name's trailing dots and
spaces, and a case-insensitive filesystem (macOS, Windows, a share) finds `Head` as HEAD.
Every name rule judges that form: gunzip's suffixes (`run.bat.gz.` is run.bat once
unpacked), git's repository layout in any case, the page types (every type a plug-in
player takes, FutureSplash's .spl with Flash's .swf)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine import served
from vmguard.quarantine.client_forms import windows_name
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.names import sibling_reasons

TRAILING = ["run.bat.gz.", "run.cmd.gz ", "run.bat.z.", "run.vbs.gz. .", "page.atom_z.", "run.BAT.Gz.."]


@pytest.mark.parametrize("name", TRAILING)
def test_gunzip_suffixes_behind_trailing_dots_and_spaces_are_judged(name):
    inner = served.unpacked_names(name)[-1]
    assert windows_name(inner) == inner and "." in inner
    found = served.name_reasons(name, ("gzip", "text"))
    assert [r for r, _ in found] == [Reason.NAME_TYPE] and f"gunzip makes it {inner}" in found[0][1], found


def test_control_trailing_dots_on_the_labs_gzip_names_change_nothing():
    for name in ("events.csv.gz.", "notes.txt.gz ", "x.dat.z."):
        assert served.name_reasons(name, ("gzip", "text")) == [], name


@pytest.mark.skipif(shutil.which("gzip") is None or shutil.which("tar") is None, reason="no gzip or tar")
def test_real_gzip_under_such_names_is_refused_as_a_file_and_as_a_tar_member(tmp_path):
    made = tmp_path / "made"
    made.mkdir()
    (made / "run.bat").write_bytes(b"start calc.exe\r\n")
    subprocess.run(["gzip", "-n", "run.bat"], cwd=made, check=True)
    gz = (made / "run.bat.gz").read_bytes()
    (made / "run.bat.gz").rename(made / "run.bat.gz.")
    subprocess.run(["tar", "cf", "packed.tar", "run.bat.gz."], cwd=made, check=True)
    # one directory a name: run.bat.gz. and run.BAT.Gz.. are one name on Windows (they collide)
    files = {f"{i}/{name}": gz for i, name in enumerate(TRAILING)}
    files |= {"packed.tar": (made / "packed.tar").read_bytes(), "ctl-events.csv.gz.": gz}
    entries, _ = vet_files(tmp_path, files, shipped("build.yaml"))
    assert entries["ctl-events.csv.gz."].verdict is Verdict.ACCEPTED, entries["ctl-events.csv.gz."]
    for name in set(files) - {"ctl-events.csv.gz."}:
        assert entries[name].reasons == (Reason.NAME_TYPE,), entries[name]
    assert "archive member run.bat.gz.: gunzip makes it run.bat" in entries["packed.tar"].detail


@pytest.mark.parametrize(
    "names",
    [["Head", "objects", "refs"], ["head", "OBJECTS", "Refs"], ["HEAD.", "objects", "refs "],
     ["hEaD ", "commondir."], ["HEAD", "CommonDir"]],
)  # fmt: skip
def test_git_layout_in_any_case_is_refused(names):
    head = next(n for n in names if n.lower().rstrip(". ") == "head")
    assert sibling_reasons([*names, "config"]) == {head: [Reason.NAME_CONFIG]}


@pytest.mark.parametrize(
    "names", [["Head", "objects"], ["heads", "objects", "refs"], ["HEAD.txt", "commondir"]]
)
def test_control_no_git_layout_in_any_case(names):
    assert sibling_reasons(names) == {}


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_a_real_repository_renamed_to_other_cases_is_not_published(tmp_path):
    q = tmp_path / "q"
    for case, renames in (("upper", {"HEAD": "Head"}), ("lower", {"HEAD": "head", "objects": "OBJECTS"})):
        repo = q / case
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
        shutil.rmtree(repo / "hooks")  # the sample hooks are executable: refused on their own
        for old, new in renames.items():
            (repo / old).rename(repo / new)
    result = vmguard.vet(q, shipped("build.yaml"), tmp_path / "pub" / "j", per_file=True)
    refused = {e.path: e.reasons for e in result.rejected}
    # (a bare repository's `description` is refused as R's DESCRIPTION too since session 40:
    # remotes::install_deps() of `.` reads it, toolnames.py)
    assert refused == {"upper/Head": (Reason.NAME_CONFIG,), "lower/head": (Reason.NAME_CONFIG,),
                       "upper/description": (Reason.NAME_CONFIG,),
                       "lower/description": (Reason.NAME_CONFIG,)}, refused


@pytest.mark.parametrize("ext", ["spl", "swf", "dcr", "dir", "dxr"])
def test_every_plug_in_players_extension_is_a_page(ext):
    found = served.name_reasons(f"movie.{ext}", ("text",))
    assert [r for r, _ in found] == [Reason.NAME_TYPE], found
    assert "a browser renders as a page or runs as script" in found[0][1]


def test_the_players_types_come_from_the_kept_table():
    text = Path(served.__file__).with_name("sources").joinpath("debian-mime.types").read_text()
    assert "application/futuresplash\t\t\tspl" in text and "application/x-director\t\t\t\tdcr dir dxr" in text


@pytest.mark.parametrize("pair", [("a.csv", "a.csv."), ("run.log", "RUN.LOG "), ("x", "x. .")])
def test_names_one_once_unpacked_on_windows_collide(pair):
    assert sibling_reasons([*pair, "other.csv"]) == {n: [Reason.NAME_COLLISION] for n in pair}


def test_control_names_that_differ_before_the_trailing_dots_do_not_collide():
    assert sibling_reasons(["a.csv", "a.csv.gz.", "a.cs", ".a.csv"]) == {}
