"""The Python examples in docs/batch.md run as written (only the paths are swapped)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.batch.site import HARMLESS, Site, make_site
from vmguard.batch.hook import end_of_job
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
    share = site.make_vm_share("vmgjob-doc")
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


def test_hook_example(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    code = python_blocks()[1]
    monkeypatch.setenv("VMGUARD_BATCH_CONFIG", str(site.config))
    exec(compile(code, str(DOC), "exec"), {"__name__": "doc"})  # noqa: S102
    # "gleam-batch-01" is no VM of this site: not a VM job, so nothing is recorded
    assert not site.state.exists() and not site.log.exists()


def test_hook_example_vets_a_vm_job(site: Site) -> None:
    """The same call for a VM of the site: vetted, recorded, verdict beside the output."""
    share = site.make_vm_share("vmgjob-condor")
    subprocess.run(["sh", "-c", HARMLESS.format(q=share)], check=True, timeout=10)
    job = BatchJob(
        runner="htcondor",
        id="1234",
        user=site.user.pw_name,
        uid=site.user.pw_uid,
        gid=site.user.pw_gid,
        name="vmgjob-condor",
        output_dir=str(site.work),
    )
    assert end_of_job(job, site.config) == 0
    assert '"outcome": "promoted"' in (site.state / "htcondor-1234.json").read_text()
    assert "2 promoted" in (site.work / "vmguard-1234.verdict").read_text()
