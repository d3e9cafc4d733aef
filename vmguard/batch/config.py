"""The site's batch settings (/etc/vmguard/batch.yaml): where a job's files go.

    inventory: /etc/vmguard/inventory.yaml   # which VM follows which policy, its quarantine
    vm: "{name}"                             # which job field names the job's VM
    public: /vmdata/public/{user}/{job}      # where vetted files go; default: the policy's
                                             # quarantine.promote.to
    state_dir: /var/lib/vmguard/batch        # verdict records and vet reports (admins)
    time_limit: 600                          # seconds; below Slurm's PrologEpilogTimeout
    comment: true                            # also try to record the verdict as job comment

Templates take the job fields {job} {user} {name} {queue} {comment} {host}.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from pathlib import Path

from vmguard.errors import InputError, Problem
from vmguard.policy import source
from vmguard.policy.source import Document

DEFAULT_PATH = "/etc/vmguard/batch.yaml"
FIELDS = ("job", "user", "name", "queue", "comment", "host")
_KNOWN = {"inventory", "vm", "public", "state_dir", "time_limit", "comment"}


@dataclass(frozen=True)
class BatchConfig:
    source: str
    inventory: Path
    public: str = ""  # template; "" means the policy's quarantine.promote.to
    vm: str = "{name}"  # template
    state_dir: Path = Path("/var/lib/vmguard/batch")
    time_limit: float = 600.0
    comment: bool = True


def default_path() -> Path:
    """$VMGUARD_BATCH_CONFIG, else /etc/vmguard/batch.yaml."""
    return Path(os.environ.get("VMGUARD_BATCH_CONFIG") or DEFAULT_PATH)


def _problem(doc: Document, key: str, message: str) -> Problem:
    pos = doc.pos((key,), key=True)
    return Problem(pos.file, pos.line, pos.col, key, message)


def _check_template(doc: Document, key: str, value: object) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [_problem(doc, key, "must be a non-empty string")]
    try:
        used = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as err:
        return [_problem(doc, key, f"bad template: {err}")]
    fields = ", ".join("{" + name + "}" for name in FIELDS)
    return [
        _problem(doc, key, f"unknown field {{{name}}}; use {fields}") for name in used if name not in FIELDS
    ]


def _read(path: Path) -> Document:
    """The file through vmguard's strict YAML reader, which knows every key's position."""
    try:
        doc = source.load(path)
    except source.SourceError as err:
        raise InputError(err.problems) from err
    if not isinstance(doc.data, dict):
        raise InputError([Problem(str(path), 1, 1, "", "must be a mapping of settings")])
    return doc


def _problems(doc: Document) -> list[Problem]:
    data = doc.data
    problems = [
        _problem(doc, k, f"unknown setting; known: {', '.join(sorted(_KNOWN))}")
        for k in data
        if k not in _KNOWN
    ]
    if "inventory" not in data:
        problems.append(_problem(doc, "inventory", "is required: the host's inventory file"))
    problems += _check_template(doc, "public", data.get("public", "{job}"))
    problems += _check_template(doc, "vm", data.get("vm", "{name}"))
    limit = data.get("time_limit", 600)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
        problems.append(_problem(doc, "time_limit", "must be a positive number of seconds"))
    if not isinstance(data.get("comment", True), bool):
        problems.append(_problem(doc, "comment", "must be true or false"))
    return problems


def load_batch_config(path: Path | None = None) -> BatchConfig:
    """Read and check the batch settings; every problem is reported at once."""
    path = path or default_path()
    doc = _read(path)
    if problems := _problems(doc):
        raise InputError(problems)
    data, base = doc.data, path.parent
    return BatchConfig(
        source=str(path),
        inventory=base / str(data["inventory"]),
        public=data.get("public", ""),
        vm=data.get("vm", "{name}"),
        state_dir=base / str(data.get("state_dir", "/var/lib/vmguard/batch")),
        time_limit=float(data.get("time_limit", 600)),
        comment=data.get("comment", True),
    )
