"""Names tools read from the directory they run in, added in session 38 (attack n names):
each refused in any case, its siblings and near names published; LaTeX jobs known from
the other names only a TeX run writes (.dvi .xdv .bcf .run.xml .toc)."""

from __future__ import annotations

import pytest

from vmguard.quarantine import names, served
from vmguard.quarantine.model import Reason

CONFIG = (
    "config.asy", "voila.json", "irb.rc", "_irbrc", "$irbrc", "default.sex", "default.param",
    "default.conv", "default.nnw", "default.swarp", "serve.json", "_headers", "_redirects",
    "Directory.Build.props", "Directory.Build.targets", "Directory.Build.rsp",
    "Directory.Packages.props", "NuGet.Config", "nuget.config", "NUGET.CONFIG", "global.json",
    "compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml",
    "docker-compose.override.yml", "hatch.toml", "pdm.toml", "Pipfile", "ansible.cfg",
)  # fmt: skip
NEAR = ("config.asy.txt", "voila.log", "irb.log", "default.sex.log", "serve.log", "headers",
        "global.csv", "compose.yaml.log", "hatch.log", "Pipfile.txt", "ansible.log", "job.rootmap.txt")


@pytest.mark.parametrize("name", CONFIG)
def test_a_tools_directory_configuration_is_refused(name):
    assert names.acted_on(name) == [Reason.NAME_CONFIG]


@pytest.mark.parametrize("name", NEAR)
def test_near_names_are_data(name):
    assert names.acted_on(name) == [] and served.acted_on(name) is None


def test_a_rootmap_is_loaded_by_root():
    assert "analysis tool" in served.acted_on("analysis.rootmap")


def test_wandb_settings_is_refused_in_a_wandb_directory_only():
    assert names.sibling_reasons(["settings", "run.log"], "wandb") == {"settings": [Reason.NAME_CONFIG]}
    assert names.sibling_reasons(["settings"], "results") == {}


@pytest.mark.parametrize("mark", ["main.dvi", "main.xdv", "main.bcf", "main.run.xml", "main.toc"])
def test_a_tex_run_s_file_names_the_job(mark):
    found = names.sibling_reasons([mark, "main.brf", "main.pdf", "main.log", "main.xdv.csv", "other.nls"])
    assert "main.brf" in found and "main.pdf" not in found and "main.log" not in found
    assert "other.nls" not in found
    assert ("main.xdv" in found) is False


def test_without_a_mark_the_job_is_unknown():
    assert names.sibling_reasons(["main.brf", "main.log", "main.out"]) == {}
