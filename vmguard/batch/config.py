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

import yaml

from vmguard.errors import InputError, Problem

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


def _problem(path: Path, where: str, message: str) -> Problem:
    return Problem(str(path), 0, 0, where, message)


def _check_template(path: Path, key: str, value: object) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [_problem(path, key, "must be a non-empty string")]
    try:
        used = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as err:
        return [_problem(path, key, f"bad template: {err}")]
    fields = ", ".join("{" + name + "}" for name in FIELDS)
    return [
        _problem(path, key, f"unknown field {{{name}}}; use {fields}") for name in used if name not in FIELDS
    ]


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise InputError([_problem(path, "", f"cannot read: {err.strerror}")]) from err
    except yaml.YAMLError as err:
        raise InputError([_problem(path, "", f"not valid YAML: {err}")]) from err
    if not isinstance(data, dict):
        raise InputError([_problem(path, "", "must be a mapping of settings")])
    return data


def _problems(path: Path, data: dict) -> list[Problem]:
    problems = [
        _problem(path, k, f"unknown setting; known: {', '.join(sorted(_KNOWN))}")
        for k in data
        if k not in _KNOWN
    ]
    if "inventory" not in data:
        problems.append(_problem(path, "inventory", "is required: the host's inventory file"))
    problems += _check_template(path, "public", data.get("public", "{job}"))
    problems += _check_template(path, "vm", data.get("vm", "{name}"))
    limit = data.get("time_limit", 600)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
        problems.append(_problem(path, "time_limit", "must be a positive number of seconds"))
    if not isinstance(data.get("comment", True), bool):
        problems.append(_problem(path, "comment", "must be true or false"))
    return problems


def load_batch_config(path: Path | None = None) -> BatchConfig:
    """Read and check the batch settings; every problem is reported at once."""
    path = path or default_path()
    data = _read(path)
    if problems := _problems(path, data):
        raise InputError(problems)
    base = path.parent
    return BatchConfig(
        source=str(path),
        inventory=base / str(data["inventory"]),
        public=data.get("public", ""),
        vm=data.get("vm", "{name}"),
        state_dir=base / str(data.get("state_dir", "/var/lib/vmguard/batch")),
        time_limit=float(data.get("time_limit", 600)),
        comment=data.get("comment", True),
    )
