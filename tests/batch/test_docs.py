"""The examples in docs/batch.md run as written (only the paths are swapped)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.batch.site import HARMLESS, Site, make_site
from vmguard.batch.hook import end_of_job, start_of_job
from vmguard.batch.job import BatchJob

DOC = Path(__file__).resolve().parents[2] / "docs/batch.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    site = make_site()
    monkeypatch.setenv("VMGUARD_LOG", str(site.log))
    yield site
    site.remove()


def test_vet_example(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    share = site.quarantine("vmgjob-doc")
    share.mkdir()
    subprocess.run(["sh", "-c", HARMLESS.format(q=share)], check=True, timeout=10)
    code = python_blocks()[0]
    for name, value in (
        ("QUARANTINE", share),
        ("PUBLIC", site.root / "public/doc"),
        ("POLICY", site.root / "etc/policy.yaml"),
    ):
        code, count = re.subn(rf'^{name} = Path\(".*"\)$', f'{name} = Path("{value}")', code, flags=re.M)
        assert count == 1, name
    exec(compile(code, str(DOC), "exec"), {})  # noqa: S102 - our own documentation
    assert "promoted 2 promoted" in capsys.readouterr().out
    assert (site.root / "public/doc/result.txt").exists()
    assert not (share / "result.txt").exists()  # remove_promoted


def test_hook_example(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = python_blocks()[1]
    monkeypatch.setenv("VMGUARD_BATCH_CONFIG", str(site.config))
    exec(compile(code, str(DOC), "exec"), {"__name__": "doc"})  # noqa: S102
    # alice may not use pool mc here: refused at start, nothing assigned, nothing vetted
    assert "refused: user alice" in capsys.readouterr().out
    assert not site.state.exists()  # refused before any VM was looked at


def test_hook_example_vets_a_vm_job(site: Site) -> None:
    """The same calls for a user of the pool: a VM, vetted, recorded, verdict beside the output."""
    job = BatchJob(
        runner="htcondor",
        id="1234",
        user=site.user.pw_name,
        uid=site.user.pw_uid,
        gid=site.user.pw_gid,
        requests=("mc",),
        output_dir=str(site.work()),
    )
    assert start_of_job(job, site.config, alive=lambda job: None) == ""
    share = Path((site.state / "assigned/htcondor-1234").read_text().split("\t")[1].strip())
    subprocess.run(["sh", "-c", HARMLESS.format(q=share)], check=True, timeout=10)
    assert end_of_job(job, site.config) == 0
    assert '"outcome": "promoted"' in (site.state / "htcondor-1234.json").read_text()
    assert "2 promoted" in (site.work() / "vmguard-1234.verdict").read_text()


def test_install_lines_name_what_install_hooks_writes(site: Site) -> None:
    text = DOC.read_text()
    assert "/opt/vmguard/bin/vmguard batch install-hooks" in text
    for name in ("slurm-prolog", "slurm-epilog", "lsf-pre-exec", "lsf-post-exec"):
        assert (site.hooks / name).exists() and f"/opt/vmguard/libexec/vmguard/{name}" in text
