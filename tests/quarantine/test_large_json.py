"""JSON larger than the 16 MiB that was once parsed whole is judged as JSON through the
real workers (streamed, bounded memory): under a policy that admits JSON but not text,
the file passes as JSON, and a JSON file cut short (text, no longer JSON) or with a
payload after it does not."""

from __future__ import annotations

import json

from tests.quarantine.conftest import ELF
from tests.quarantine.test_formats import shipped, vet_files
from vmguard.quarantine.model import Reason, Verdict


def test_a_json_larger_than_16_mib_written_by_json_dump_is_judged_as_json(tmp_path):
    big = json.dumps(
        {"run": 42, "columns": ["event", "px", "n"], "rows": [[i, i / 7, i % 9] for i in range(700_000)]}
    ).encode()
    assert len(big) > 16 << 20
    small = json.dumps({"rows": [[1, 2.5, 3]] * 1000}).encode()  # the controls need not be big
    files = {"summary.json": big, "small-elf.json": small + b"\n" + ELF, "small-cut.json": small[:-1]}
    entries, _ = vet_files(tmp_path, files, shipped("batch.yaml", allow_types=("json",)))
    assert entries["summary.json"].verdict is Verdict.ACCEPTED, entries["summary.json"]
    assert (tmp_path / "pub" / "run1" / "summary.json").read_bytes() == big
    assert entries["small-cut.json"].reasons == (Reason.TYPE_NOT_ALLOWED,)  # text now, not JSON
    assert entries["small-elf.json"].verdict is Verdict.REJECTED
