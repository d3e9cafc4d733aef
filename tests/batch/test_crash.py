"""The epilog killed (SIGKILL) at any moment: the next start on that VM holds what is left;
nothing is lost, nothing published twice, nothing published under the next job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.batch.jobs import as_user, asking, job, quarantine_of, start
from tests.batch.site import REPO, Site, module_site
from vmguard.batch.job import BatchJob

pytestmark = [pytest.mark.root, pytest.mark.slow]
FILES = {f"f{i}.txt": f"line {i}\n" for i in range(6)}

EPILOG = """
import sys
from vmguard.batch.hook import end_of_job
from vmguard.batch.job import BatchJob
import contextlib
import json
end_of_job(BatchJob.from_dict(json.loads(sys.argv[1])), __import__("pathlib").Path(sys.argv[2]))
"""


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    yield from module_site()


def _moment(site: Site, the_job: BatchJob, moment: str) -> bool:
    """Whether the epilog has reached `moment` (polled: the kill lands just after)."""
    public = site.public(the_job.id)
    if moment == "sealing":
        return '"sealing"' in (site.state / "vms/vmgjob-s1.json").read_text()
    if moment == "staging":
        return (public.parent / ".vmguard-staging" / f"{the_job.id}.staging").is_dir()  # copying
    return public.with_name(f"{the_job.id}.manifest.json").exists()  # "published"


def _kill_epilog_at(site: Site, the_job: BatchJob, moment: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", EPILOG, json.dumps(the_job.to_dict()), str(site.config)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if moment == "start" or _moment(site, the_job, moment):
            break
        time.sleep(0.003)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _where(site: Site, key: str, public_id: str) -> dict[str, list[str]]:
    """Each file of the killed job: every place it is (published, held)."""
    places: dict[str, list[str]] = {name: [] for name in FILES}
    for label, folder in (("published", site.public(public_id)), ("held", site.held(key))):
        for name in FILES:
            path = folder / name
            if path.is_file() and path.read_text() == FILES[name]:
                places[name].append(label)
    return places


@pytest.mark.parametrize("moment", ["start", "sealing", "staging", "published"])
def test_killed_epilog_is_held_by_the_next_start(
    site: Site, moment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMGUARD_LOG", str(site.log))
    n = moment
    killed = asking(job(site, f"9{n}"), "solo")
    assert start(site, killed) == ""
    q = quarantine_of(site, killed)
    as_user(site.user, "; ".join(f"echo '{text.strip()}' > {q}/{name}" for name, text in FILES.items()))
    _kill_epilog_at(site, killed, moment)
    nxt = asking(job(site, f"8{n}", site.users[1]), "solo")
    assert start(site, nxt, alive=False) == ""  # the batch system says the killed job is gone
    assert not any(q.iterdir())  # the next job starts empty
    places = _where(site, killed.key, killed.id)
    assert all(places.values()), places  # nothing lost
    assert not site.public(nxt.id, site.users[1]).exists()  # nothing under the next job
    record = json.loads((site.state / f"{killed.key}.json").read_text())
    if record["outcome"] != "promoted":  # held: an admin's revet publishes it, once
        proc = site.vmguard("batch", "revet", killed.key, "--config", str(site.config))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(p.count("published") == 1 for p in _where(site, killed.key, killed.id).values())
    from vmguard.batch.hook import end_of_job

    end_of_job(nxt, site.config)
