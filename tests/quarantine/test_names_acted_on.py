"""Names a program reading the public area acts on by NAME (issue #13, after attack e):
dot files, options to a tool given a wildcard, a directory's configuration, git's
repository layout, server-side script extensions anywhere in a name, and paths longer
than open() takes (with the public directory). Real vets of real files, real git, real
open(); and the lab's own names still pass."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.conftest import policy, published_files, write
from vmguard.core.errors import PolicyError
from vmguard.policy.loader import load_policy
from vmguard.quarantine import served
from vmguard.quarantine.model import Reason, Verdict
from vmguard.quarantine.names import PATH_MAX, acted_on, archive_reasons, sibling_reasons

DOT_NAMES = (".htaccess", ".user.ini", ".git", ".hg", ".svn", ".bzr", ".envrc", ".direnv", ".npmrc", "...")
OPTION_NAMES = ("--checkpoint=1", "-rf", "-", "+!sh x.txt", "+", "@list.txt")
CONFIG_NAMES = (
    "web.config",
    "Web.Config",
    "WEB.CONFIG. ",
    "php.ini",
    "php-cgi.ini",
    "desktop.ini",
    "node_modules",
    "rootlogon.C",
    "RootLogon.c",
    "rootalias.C. ",
    "rootlogoff.C",
    "pawlogon.kumac",
    # TeX's kpathsea finds these in `.` first (dirconfig.py: a package's .cfg, pdftex's map)
    "graphics.cfg",
    "Color.CFG",
    "hyperref.cfg. ",
    "microtype.cfg",
    "mt-cmr.cfg",
    "babel-de.ini",
    "babel-german.tex",
    "tikzlibrarycalc.code.tex",
    "pgflibraryArrows.code.tex",
    "pdftex.map",
    "matplotlibrc",
    "biber.conf",
)
SCRIPT_NAMES = (
    "shell.php",
    "notes.php.txt",
    "a.PHTML.log",
    "x.php7",
    "x.phar",
    "default.aspx",
    "x.cer",
    "index.jsp",
    "run.cgi",
    "run.pl",
    "numpy.py",
    "conftest.py",
    "sitecustomize.py",
    "__init__.py",
    "m.cpython-312.pyc",
    "evil.pth",
    "setup.sh",
    "x.htr.txt",
    "app.war",
    "x.rb",
    "plot.m",
    "page.var",
    "map.var.txt",
    "flow.xoml",
    "policy.rules",
    "svc.rem",
    "svc.soap.log",
)
# Names the lab's jobs and vmguard itself write: they must pass every name rule.
LAB_NAMES = (
    "job.manifest.json",
    "run.2024-12-04.log",
    "hist.v2.root",
    "events.csv.gz",
    "image.fits",
    "run_0042.root",
    "a-b_c+d@e.txt",
    "x-py.txt",
    "physics.txt",
    "phpstorm-notes.txt",
    "shell-output.csv",
    "HEAD.txt",
    "config",
    "refs",
    "objects",
    "résumé.txt",
    "a b (1).txt",
    "rootlogon.txt",
    "my_rootlogon.C.txt",
    "variables.txt",
    "rules.txt",
    # SGE/PBS and Slurm logs of `qsub run.sh`: a shell script is acted on by its last
    # extension only (served.LAST_ACTIVE), and Python imports only a name ending in .so
    "run.sh.o4242",
    "slurm-run.sh.4242.out",
    "notes.so.txt",
    # configuration a lab job writes under names no tool reads implicitly (dirconfig.py)
    "run.cfg",
    "analysis.cfg",
    "config.cfg",
    "detector.conf",
    "settings.ini",
    "graphics-run42.cfg",
    "paper.tex",
    "table.tex",
    "refs.bib",
    "fonts.map",
)


@pytest.mark.parametrize("name", DOT_NAMES)
def test_dot_names_are_refused(name):
    assert acted_on(name) == [Reason.NAME_DOTFILE]


@pytest.mark.parametrize("name", OPTION_NAMES)
def test_option_names_are_refused(name):
    assert acted_on(name) == [Reason.NAME_OPTION]


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_config_names_are_refused(name):
    assert acted_on(name) == [Reason.NAME_CONFIG]


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_server_script_extensions_are_refused_anywhere(name):
    found = served.name_reasons(name, ("text",))
    assert [r for r, _ in found] == [Reason.NAME_TYPE], name
    assert "rename it" in found[0][1]


def test_the_labs_names_pass_every_name_rule():
    for name in LAB_NAMES:
        assert acted_on(name) == [], name
        validators = {"json": ("json",), "root": ("root",), "gz": ("gzip", "text"), "fits": ("fits",)}
        ext = name.rsplit(".", 1)[-1]
        assert served.name_reasons(name, validators.get(ext, ("text",))) == [], name
    assert sibling_reasons(LAB_NAMES) == {}  # config, refs, objects: no HEAD, no repository


def test_head_beside_objects_and_refs_is_refused():
    assert sibling_reasons(["HEAD", "objects", "refs", "config"]) == {"HEAD": [Reason.NAME_CONFIG]}
    assert sibling_reasons(["HEAD", "objects", "config"]) == {}
    assert sibling_reasons(["HEAD", "commondir"]) == {"HEAD": [Reason.NAME_CONFIG]}  # a linked worktree's
    assert sibling_reasons(["objects", "refs", "commondir"]) == {}  # no HEAD: not a repository
    # as a case-insensitive client's filesystem finds them (git opens `head` as HEAD there)
    assert sibling_reasons(["head", "Objects", "REFS"]) == {"head": [Reason.NAME_CONFIG]}


def _bare_repo(q: Path, marker: Path) -> Path:
    """A bare repository's layout under ordinary names, its work tree inside it: git
    finds the repository from bare/wt and `git status` there runs the monitor."""
    where = q / "bare"
    (where / "objects").mkdir(parents=True)
    (where / "refs" / "heads").mkdir(parents=True)
    (where / "HEAD").write_text("ref: refs/heads/main\n")
    (where / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = wt\n"
        f'\tfsmonitor = "touch {marker}; false"\n'
    )
    write(where / "refs" / "heads" / "keep.txt", "a file, so refs/heads is kept\n")
    write(where / "objects" / "data.txt", "1 2 3\n")
    write(where / "wt" / "table.txt", "1 2 3\n")
    return where


def _linked_worktree(q: Path, marker: Path) -> Path:
    """A linked worktree's git directory: HEAD and a commondir naming where objects,
    refs and the config are (no HEAD there); its own config.worktree sets the work tree."""
    common = q / "common"
    (common / "objects").mkdir(parents=True)
    (common / "refs" / "heads").mkdir(parents=True)
    write(common / "objects" / "data.txt", "1 2 3\n")
    write(common / "refs" / "heads" / "keep.txt", "kept\n")
    (common / "config").write_text(
        "[core]\n\trepositoryformatversion = 1\n\tbare = false\n"
        f'\tfsmonitor = "touch {marker}; false"\n[extensions]\n\tworktreeConfig = true\n'
    )
    where = q / "linked"
    write(where / "HEAD", "ref: refs/heads/main\n")
    write(where / "commondir", "../common\n")
    write(where / "config.worktree", "[core]\n\tworktree = wt\n")
    write(where / "wt" / "table.txt", "1 2 3\n")
    return where


def _git_status(cwd: Path, home: Path) -> None:
    env = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
    subprocess.run(["git", "status"], cwd=cwd, env=env, capture_output=True, timeout=30)


@pytest.mark.parametrize("make", [_bare_repo, _linked_worktree], ids=["bare", "linked-worktree"])
def test_a_git_directory_layout_is_not_published_as_one(tmp_path, make):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    marker = tmp_path / "pwned"
    q = tmp_path / "q"
    where = make(q, marker)
    _git_status(where / "wt", tmp_path)
    assert marker.exists()  # the layout itself runs the command: the test can fail
    marker.unlink()
    out = tmp_path / "pub" / "j"
    result = vmguard.vet(q, policy(), out, per_file=True)
    head = f"{where.name}/HEAD"
    assert [(e.path, e.reasons) for e in result.rejected] == [(head, (Reason.NAME_CONFIG,))]
    assert "git" in result.rejected[0].detail and "rename" in result.rejected[0].detail
    _git_status(out / where.name / "wt", tmp_path)
    assert not marker.exists()
    assert f"{where.name}/wt/table.txt" in published_files(out)  # the rest is just text


def test_names_acted_on_are_refused_in_a_real_vet_with_rule_and_remedy(tmp_path):
    q = tmp_path / "q"
    names = (*DOT_NAMES, *OPTION_NAMES, *CONFIG_NAMES[:2], *CONFIG_NAMES[3:], *SCRIPT_NAMES)
    for name in names:
        write(q / "d" / name, "2026-12-04 20:00:00 INFO ok\n")
    write(q / ".hidden" / "a.txt", "in a dot directory\n")
    write(q / "-dir" / "a.txt", "in an option directory\n")
    write(q / "d" / "table.txt", "1 2\n")
    out = tmp_path / "pub" / "j"
    result = vmguard.vet(q, policy(), out, per_file=True)
    assert published_files(out) == {"d/table.txt": b"1 2\n"}
    rejected = {e.path: e for e in result.rejected}
    assert set(rejected) == {f"d/{n}" for n in names} | {".hidden", "-dir"}
    acted = {Reason.NAME_DOTFILE, Reason.NAME_OPTION, Reason.NAME_CONFIG, Reason.NAME_TYPE}
    for path, entry in rejected.items():
        assert entry.reasons[0] in acted, (path, entry.reasons)
        assert "rename" in entry.detail, (path, entry.detail)
    assert rejected[".hidden"].kind.value == "directory"


def _deep(q: Path, total: int) -> str:
    """A tree whose one file's relative path is exactly `total` bytes (names of 250)."""
    parts, left = [], total
    while left > 250 + 1 + 250:
        parts.append(chr(ord("a") + len(parts)) * 250)
        left -= 251
    parts.append("y" * (left - 1 - 8))
    rel = "/".join([*parts, "last.txt"])
    assert len(rel) == total
    fd = os.open(q, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in parts:
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        out = os.open("last.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, b"deep\n")
        os.close(out)
    finally:
        os.close(fd)
    return rel


@pytest.mark.parametrize("over", [0, 1])
def test_the_published_path_with_its_public_directory_fits_in_path_max(tmp_path, over):
    q = tmp_path / "q"
    q.mkdir()
    out = tmp_path / "pub" / "j"
    rel = _deep(q, PATH_MAX - 1 - len(os.fsencode(str(out))) - 1 + over)
    result = vmguard.vet(q, policy(), out, per_file=True)
    full = f"{out}/{rel}"
    if over:  # 4096 bytes: open() would say ENAMETOOLONG; the directory is refused whole
        assert [e.reasons for e in result.rejected] == [(Reason.PATH_TOO_LONG,)]
        assert "PATH_MAX" in result.rejected[0].detail
        assert not os.path.lexists(out / rel.split("/")[0])
    else:  # 4095 bytes: published, and any program opens it by its name
        assert result.rejected == ()
        with open(full, "rb") as f:
            assert f.read() == b"deep\n"


def _tar(*paths: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in paths:
            info = tarfile.TarInfo(path)
            info.size, info.mode = 4, 0o644
            tar.addfile(info, io.BytesIO(b"1 2\n"))
    return out.getvalue()


def test_archive_members_are_held_to_the_same_rules():
    long = "/".join(["d" * 200] * 21) + "/x.txt"  # 4227 bytes
    found = archive_reasons(
        [".htaccess", "-x", "web.config", "r/HEAD", "r/objects/", "r/refs/", "ok.txt", long], 255
    )
    assert found == {
        ".htaccess": [Reason.NAME_DOTFILE],
        "-x": [Reason.NAME_OPTION],
        "web.config": [Reason.NAME_CONFIG],
        "r/HEAD": [Reason.NAME_CONFIG],
        long: [Reason.PATH_TOO_LONG],
    }


def test_archive_members_acted_on_refuse_the_archive_through_vet(tmp_path):
    q = tmp_path / "q"
    cases = {
        "dot.tar": (".user.ini", Reason.NAME_DOTFILE),
        "opt.tar": ("--checkpoint=1", Reason.NAME_OPTION),
        "iis.tar": ("sub/web.config", Reason.NAME_CONFIG),
        "php.tar": ("notes.php.txt", Reason.NAME_TYPE),
    }
    for name, (member, _) in cases.items():
        write(q / name, _tar("ok.txt", member))
    write(q / "ok.tar", _tar("ok.txt", "sub/table.txt"))
    result = vmguard.vet(q, policy(allow_types=("text", "tar")), tmp_path / "pub" / "j", per_file=True)
    entries = {e.path: e for e in result.entries}
    assert entries["ok.tar"].verdict is Verdict.ACCEPTED, entries["ok.tar"]
    for name, (member, reason) in cases.items():
        assert entries[name].reasons == (reason,), entries[name]
        assert member in entries[name].detail and "rename" in entries[name].detail


def _tar_empty(*paths: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in paths:
            tar.addfile(tarfile.TarInfo(path))  # size 0: a member without bytes
    return out.getvalue()


def test_empty_archive_members_get_the_names_a_client_runs(tmp_path):
    """An empty member is held to what an empty file is: the names a client runs."""
    q = tmp_path / "q"
    write(q / "bat.tar", _tar_empty("ok.txt", "sub/run.bat"))
    write(q / "page.tar", _tar_empty("index.html"))
    write(q / "ok.tar", _tar_empty("done.txt", "sub/marker"))
    result = vmguard.vet(q, policy(allow_types=("text", "tar")), tmp_path / "pub" / "j", per_file=True)
    entries = {e.path: e for e in result.entries}
    assert entries["ok.tar"].verdict is Verdict.ACCEPTED, entries["ok.tar"]
    for name, member in (("bat.tar", "sub/run.bat"), ("page.tar", "index.html")):
        assert entries[name].reasons == (Reason.NAME_TYPE,), entries[name]
        assert member in entries[name].detail, entries[name]


def _policy_with(tmp_path: Path, dot_names: str) -> Path:
    path = tmp_path / "policy.yaml"
    text = "apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: t}\nspec:\n  quarantine:\n"
    path.write_text(text + f"    allow_types: [text]\n    dot_names: {dot_names}\n")
    return path


def test_the_policy_publishes_exactly_the_dot_names_it_lists(tmp_path):
    q = tmp_path / "q"
    write(q / ".snakemake" / "log" / "run.log", "rule all done\n")
    write(q / ".git" / "HEAD", "ref: refs/heads/main\n")
    write(q / ".snakemake.bak" / "x.txt", "another name: the list is exact\n")
    write(q / "a.txt", "a\n")
    rules = load_policy(_policy_with(tmp_path, "[.snakemake]"))
    assert rules.quarantine.dot_names == (".snakemake",)
    out = tmp_path / "pub" / "j"
    result = vmguard.vet(q, rules, out, per_file=True)
    assert published_files(out) == {".snakemake/log/run.log": b"rule all done\n", "a.txt": b"a\n"}
    assert {e.path: e.reasons for e in result.rejected} == {
        ".git": (Reason.NAME_DOTFILE,),
        ".snakemake.bak": (Reason.NAME_DOTFILE,),
    }


@pytest.mark.parametrize("bad", ["[..]", "[snakemake]", "[.a/b]", "[.a, .a]", ".a"])
def test_dot_names_must_be_dot_names(tmp_path, bad):
    with pytest.raises(PolicyError):
        load_policy(_policy_with(tmp_path, bad))


def _vim_star(cwd: Path) -> None:
    """`vim *` as a reader types it (batch mode, no vimrc): a name `+cmd` is a command."""
    argv = ["vim", "-N", "-n", "-u", "NONE", "-i", "NONE", "-es", *sorted(os.listdir(cwd)), "-c", "qa!"]
    subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


def _node_require(cwd: Path) -> None:
    subprocess.run(["node", "-e", "require('lodash')"], cwd=cwd, capture_output=True, timeout=30)


def _node_modules(q: Path) -> None:
    """node_modules/lodash whose package.json names a text file as its code."""
    write(q / "node_modules" / "lodash" / "package.json", json.dumps({"name": "lodash", "main": "notes.txt"}))
    write(q / "node_modules" / "lodash" / "notes.txt", "require('fs').writeFileSync('node-ran', '')\n")


@pytest.mark.parametrize(
    "tool, make, run",
    [
        ("vim", lambda q: write(q / "+!touch vi-ran", ""), _vim_star),
        ("node", _node_modules, _node_require),
    ],
)
def test_what_a_readers_tool_runs_by_name_is_not_published(tmp_path, tool, make, run):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    q = tmp_path / "q"
    make(q)
    write(q / "table.txt", "1 2\n")
    run(q)
    ran = {"vim": "vi-ran", "node": "node-ran"}[tool]
    assert (q / ran).exists()  # the trap works on the quarantine itself: the test can fail
    (q / ran).unlink()
    out = tmp_path / "pub" / "j"
    result = vmguard.vet(q, policy(allow_types=("text", "json")), out, per_file=True)
    assert result.rejected and "table.txt" in published_files(out)
    run(out)
    assert not (out / ran).exists()
