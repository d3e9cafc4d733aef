"""Build, task and package tools' files read by name from `.` (session 40, names3;
vmguard/quarantine/toolnames.py): every programming language's file name in GitHub
linguist's list (linguist-languages 9.5.0) is refused as name-config or published for a
reason the table gives; the families' names and patterns are refused in any case and as
their NTFS 8.3 aliases, with the family's reason; a physics job's ordinary names pass."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import vmguard
from tests.quarantine.test_names_acted_on import policy
from vmguard.quarantine import dirconfig, names, toolnames
from vmguard.quarantine.model import Reason

_CONFIG = [Reason.NAME_CONFIG]
# attack q text's tool files (tests/support/attack_qtext_cases.py) and more of each family
ATTACK_Q = (
    "CTestTestfile.cmake", "go.mod", "Cargo.toml", "extra.sbt", "jobs.thor", "build.gradle",
    "gradle.properties", "cabal.project.local", "Jakefile", "Cakefile", "Gruntfile.coffee",
    "vite.config.ts", "eslint.config.ts", "Doxyfile", "mix.exs", "rebar.config", "build.zig",
    "project.clj", "book.toml", "mkdocs.yml", "Makefile.toml", "cpanfile", "Procfile", "mise.toml",
    "package.json", "composer.json", "babel.config.json", "Puppetfile", "build.gradle.kts", "dune",
    "deps.edn", "bb.edn", "Package.swift", "build.mill", "Jamroot", "Cartfile",
)  # fmt: skip
MORE = ("gulpfile.babel.js", "webpack.config.mjs", "CTestConfig.cmake", "x.opam", "pkg.nimble",
        "Dockerfile", "meson.build", "pom.xml", "tsconfig.json", "package.mill", "docs.gradle",
        "project.godot")
# session 40 (escnames): attack r text's tool files and their kin
ATTACK_R = ("environment.yml", "environment.yaml", "dvc.yaml", "MLproject", "cdk.json", "Pulumi.yaml",
            "skaffold.yaml", "platformio.ini", "_targets.R", "app.R", "ui.R", "server.R", "global.R",
            "plumber.R", "entrypoint.R", "install.R", "renv.lock", "DESCRIPTION", "Manifest.toml",
            "Project.toml", "JuliaProject.toml", "JuliaManifest.toml", "Manifest-v1.11.toml")
# a physics job's ordinary names, and near names of the table's
ORDINARY = (
    "hist.root", "run.log", "data.csv", "README", "Makefile.log", "Makefile", "CMakeLists.txt",
    "ROOT", "build", "BUILD", "workspace", "deps", "profile", "login", "man", "hosts",
    "requirements.txt", "checksums.txt", "MD5SUMS", "results.json", "config.toml", "settings",
    "package.json.log", "go.mod.txt", "results.thor.txt", "vite.config", "gradle.log", "sbt.log",
    "ctest.log", "dune.log", "cargo.toml.txt", "build.properties", "Fastfile.log", "notes.txt",
    "environment.yml.log", "analysis.R", "fit.R", "Manifest-v.toml.txt", "description.txt", "app.py.log",
)  # fmt: skip


def test_every_family_says_why_and_names_are_folded():
    seen: set[str] = set()
    for family in toolnames.FAMILIES:
        assert len(family.why) > 40 and (family.names or family.patterns), family
        assert all(n == n.lower() and n not in seen for n in family.names), family.names
        seen |= set(family.names)
    assert not seen & set(toolnames.EXCLUDED)
    assert all(len(why) > 20 for why in toolnames.EXCLUDED.values())


@pytest.mark.parametrize("name", toolnames.LINGUIST)
def test_every_linguist_programming_name_is_refused_or_excluded_for_a_reason(name):
    refused = names.acted_on(name) == _CONFIG
    assert refused != (name in toolnames.EXCLUDED), (name, names.acted_on(name))


def test_the_linguist_list_is_the_generators_output():
    spec = importlib.util.spec_from_file_location(
        "linguist_filenames", Path(__file__).resolve().parents[2] / "tools" / "linguist_filenames.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    dump = {"programming": [["Ruby", [".irbrc", "Gemfile"]], ["Go", ["Gemfile", "go.mod"]]],
            "data": [["JSON", ["package.json"]]]}
    assert tool.programming(dump) == ["gemfile", "go.mod"]
    languages = {"Ruby": {"type": "programming", "filenames": ["Rakefile"]}, "JSON": {"type": "data"}}
    assert tool.programming(languages) == ["rakefile"]
    assert len(toolnames.LINGUIST) == len(set(toolnames.LINGUIST)) > 120


@pytest.mark.parametrize("name", ATTACK_Q + MORE + ATTACK_R)
def test_a_tools_file_is_refused_in_any_case_with_its_familys_reason(name):
    why = toolnames.why(name.lower())
    assert why
    for each in (name, name.upper(), name.lower(), name.title(), f"{name}.", f"{name}::$DATA"):
        assert names.acted_on(each) == _CONFIG, each
    assert names.config_note(name) == why


@pytest.mark.parametrize("name", ATTACK_Q + MORE + ATTACK_R)
def test_a_tools_file_is_refused_as_its_ntfs_alias(name):
    for alias in dirconfig.short_names(name):
        assert names.acted_on(alias) == _CONFIG, alias


@pytest.mark.parametrize("name", ORDINARY)
def test_a_physics_jobs_ordinary_names_are_published(name):
    assert names.acted_on(name) == [] and toolnames.why(name.lower()) is None


@pytest.mark.parametrize(("directory", "entry"), [
    ("project", "plugins.sbt"), ("project", "build.properties"), ("Project", "Assembly.SBT"),
    ("fastlane", "Fastfile"), ("fastlane", "Appfile"), ("mise", "config.toml"), ("mise", "config.local.toml"),
])  # fmt: skip
def test_a_tools_file_within_its_directory_is_refused(directory, entry):
    assert names.sibling_reasons([entry, "run.log"], directory) == {entry: _CONFIG}
    assert names.sibling_reasons([entry, "run.log"], "results") == {}
    assert names.sibling_notes([entry], directory)[entry]


def test_the_archive_walk_asks_the_same_table():
    found = names.archive_reasons(["job/", "job/go.mod", "job/project/plugins.sbt", "job/data.csv",
                                   "job/mise/config.toml", "job/config.toml"], 255)
    assert set(found) == {"job/go.mod", "job/project/plugins.sbt", "job/mise/config.toml"}


@pytest.mark.parametrize("name", ["dune", "DUNE", "Procfile", "build.gradle", "vite.config.ts", "go.mod"])
def test_a_directory_of_a_tools_file_name_is_published(name):
    """A tool opens ./dune or ./Procfile as a file: a directory of that name (the DUNE
    experiment's) is read by none, in the walk and in an archive."""
    assert names.name_reasons(name, 255) == _CONFIG
    assert names.name_reasons(name, 255, directory=True) == []
    found = names.archive_reasons([f"{name}/", f"{name}/run.root", f"{name}/{name}/", f"{name}/x/{name}"], 255)
    assert found == {f"{name}/x/{name}": _CONFIG}


@pytest.mark.parametrize("name", ["node_modules", "CVS", "_minted-main", "web.config", "Gemfile"])
def test_a_directory_of_the_other_names_is_refused_as_before(name):
    assert names.name_reasons(name, 255, directory=True) == _CONFIG


def test_the_walk_publishes_a_dune_directory_and_refuses_a_dune_file(tmp_path):
    q = tmp_path / "q"
    (q / "dune" / "nd").mkdir(parents=True)
    (q / "dune" / "nd" / "run.txt").write_text("events 12\n")
    (q / "ocaml").mkdir()
    (q / "ocaml" / "dune").write_text("(rule (alias default) (action (run id)))\n")
    (q / "ocaml" / "Cargo.toml").write_text('[package]\nbuild = "notes.txt"\n')
    result = vmguard.vet(q, policy(allow_types=("text",)), tmp_path / "pub" / "j", per_file=True)
    verdicts = {e.path: e.verdict.value for e in result.entries}
    assert verdicts["dune/nd/run.txt"] == "accepted", verdicts
    assert verdicts["ocaml/dune"] == verdicts["ocaml/Cargo.toml"] == "rejected", verdicts
