"""The site's batch settings (/etc/vmguard/batch.yaml): pools, who may use them, where
a job's files go, and what happens to them.

    inventory: /etc/vmguard/inventory.yaml   # which VM follows which policy, its quarantine
    public: /vmdata/public/{user}/{job}      # where vetted files go; default: the policy's
                                             # quarantine.promote.to
    state_dir: /var/lib/vmguard/batch        # assignments, verdict records, vet reports
    after_publish: delete                    # or keep: published files moved to state_dir
    retention_days: 30                       # held (rejected, unvetted) output kept so long
    time_limit: 600                          # seconds; below Slurm's PrologEpilogTimeout
    comment: true                            # also try to record the verdict as job comment
    log: /var/log/vmguard/events.jsonl       # vmguard's event log (hooks get no environment)
    pools:
      mc:                                    # a job asks for it: sbatch -L vmpool-mc
        vms: [gleam-batch-01, gleam-batch-02]
        users: [alice]                       # who may use it: users, groups, accounts
        groups: [gleam]
        accounts: [gleam]
        partitions: [vm]                     # a job here that asks for no pool gets this one

Templates take {job} {user} {vm} {pool} {queue} {host}: values vmguard decided or
Slurm/LSF reports for root, never the job name or comment the user chose.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from vmguard.core import yamlsource as source
from vmguard.core.errors import InputError, Problem
from vmguard.core.yamlsource import Document

DEFAULT_PATH = "/etc/vmguard/batch.yaml"
FIELDS = ("job", "user", "vm", "pool", "queue", "host")
_KNOWN = {
    "inventory",
    "public",
    "state_dir",
    "after_publish",
    "retention_days",
    "time_limit",
    "comment",
    "log",
    "pools",
    "accounts_enforced",
}
_POOL_KEYS = {"vms", "users", "groups", "accounts", "partitions"}


class AfterPublish(StrEnum):
    DELETE = "delete"  # published files leave the quarantine and are deleted
    KEEP = "keep"  # published files leave the quarantine into state_dir/published/<job>


@dataclass(frozen=True)
class Pool:
    name: str
    vms: tuple[str, ...]
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()
    partitions: frozenset[str] = frozenset()  # Slurm partitions / LSF queues


@dataclass(frozen=True)
class BatchConfig:
    source: str
    inventory: Path
    pools: tuple[Pool, ...] = ()
    public: str = ""  # template; "" means the policy's quarantine.promote.to
    state_dir: Path = Path("/var/lib/vmguard/batch")
    after_publish: AfterPublish = AfterPublish.DELETE
    retention_days: float = 30.0
    time_limit: float = 600.0
    comment: bool = True
    log: str = ""  # "" keeps vmguard's default log
    # Slurm takes any `-A` string unless AccountingStorageEnforce=associations (LSF
    # projects likewise): an account is a root-side fact only where the site says so.
    accounts_enforced: bool = False

    def pool(self, name: str) -> Pool | None:
        return next((p for p in self.pools if p.name == name), None)


def default_path() -> Path:
    """$VMGUARD_BATCH_CONFIG, else /etc/vmguard/batch.yaml."""
    return Path(os.environ.get("VMGUARD_BATCH_CONFIG") or DEFAULT_PATH)


def _problem(doc: Document, where: tuple, message: str) -> Problem:
    pos = doc.pos(where, key=True)
    return Problem(pos.file, pos.line, pos.col, ".".join(map(str, where)), message)


def _check_template(doc: Document, key: str, value: object) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [_problem(doc, (key,), "must be a non-empty string")]
    try:
        used = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as err:
        return [_problem(doc, (key,), f"bad template: {err}")]
    fields = ", ".join("{" + name + "}" for name in FIELDS)
    return [_problem(doc, (key,), f"unknown field {{{n}}}; use {fields}") for n in used if n not in FIELDS]


def _read(path: Path) -> Document:
    """The file through vmguard's strict YAML reader, which knows every key's position."""
    try:
        doc = source.load(path)
    except source.SourceError as err:
        raise InputError(err.problems) from err
    if not isinstance(doc.data, dict):
        raise InputError([Problem(str(path), 1, 1, "", "must be a mapping of settings")])
    return doc


def _names(doc: Document, where: tuple, value: object) -> list[Problem]:
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return []
    return [_problem(doc, where, "must be a list of names")]


def _pool_problems(doc: Document, name: object, pool: object) -> list[Problem]:
    where = ("pools", name)
    if not isinstance(pool, dict):
        return [_problem(doc, where, "must be a mapping with vms: and who may use it")]
    problems = [
        _problem(doc, (*where, k), f"unknown key; known: {', '.join(sorted(_POOL_KEYS))}")
        for k in pool
        if k not in _POOL_KEYS
    ]
    if not pool.get("vms"):
        problems.append(_problem(doc, where, "needs vms: the VM names of this pool"))
    for key in _POOL_KEYS & set(pool):
        problems += _names(doc, (*where, key), pool[key])
    if isinstance(pool.get("vms"), list) and any(c in str(v) for v in pool["vms"] for c in "*?["):
        problems.append(_problem(doc, (*where, "vms"), "name each VM; globs cannot be assigned"))
    return problems


def _pools_problems(doc: Document) -> list[Problem]:
    pools = doc.data.get("pools", {})
    if not isinstance(pools, dict):
        return [_problem(doc, ("pools",), "must map pool names to pools")]
    problems = [p for name, pool in pools.items() for p in _pool_problems(doc, name, pool)]
    owners: dict[str, str] = {}
    for name, pool in pools.items():
        vms = pool.get("vms") if isinstance(pool, dict) else None
        for vm in vms if isinstance(vms, list) else []:
            if owners.setdefault(vm, name) != name:
                where = ("pools", name, "vms")
                problems.append(_problem(doc, where, f"VM {vm} is also in pool {owners[vm]}"))
    return problems


def _problems(doc: Document) -> list[Problem]:
    data = doc.data
    problems = [
        _problem(doc, (k,), f"unknown setting; known: {', '.join(sorted(_KNOWN))}")
        for k in data
        if k not in _KNOWN | {"vm"}
    ]
    if "vm" in data:
        problems.append(_problem(doc, ("vm",), "removed: the job name cannot choose a VM; declare pools:"))
    if "inventory" not in data:
        problems.append(_problem(doc, ("inventory",), "is required: the host's inventory file"))
    problems += _check_template(doc, "public", data.get("public", "{job}"))
    for key, default in (("time_limit", 600), ("retention_days", 30)):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.append(_problem(doc, (key,), "must be a positive number"))
    for key in ("comment", "accounts_enforced"):
        if not isinstance(data.get(key, True), bool):
            problems.append(_problem(doc, (key,), "must be true or false"))
    if not data.get("accounts_enforced", False):
        problems += _unenforced_accounts(doc)
    if data.get("after_publish", "delete") not in {m.value for m in AfterPublish}:
        problems.append(_problem(doc, ("after_publish",), "must be delete or keep"))
    return problems + _pools_problems(doc)


def _unenforced_accounts(doc: Document) -> list[Problem]:
    """A user names any account (`sbatch -A x`) unless the batch system enforces them."""
    pools = doc.data.get("pools")
    return [
        _problem(
            doc,
            ("pools", name, "accounts"),
            "accounts are chosen by the user unless the batch system enforces them: "
            "enable that (Slurm AccountingStorageEnforce=associations) and set "
            "accounts_enforced: true, or allow users/groups instead",
        )
        for name, pool in (pools.items() if isinstance(pools, dict) else ())
        if isinstance(pool, dict) and pool.get("accounts")
    ]


def _pool(name: str, data: dict) -> Pool:
    return Pool(
        name,
        tuple(data["vms"]),
        *(frozenset(data.get(k, ())) for k in ("users", "groups", "accounts", "partitions")),
    )


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
        pools=tuple(_pool(str(n), p) for n, p in data.get("pools", {}).items()),
        public=data.get("public", ""),
        state_dir=base / str(data.get("state_dir", "/var/lib/vmguard/batch")),
        after_publish=AfterPublish(data.get("after_publish", "delete")),
        retention_days=float(data.get("retention_days", 30)),
        time_limit=float(data.get("time_limit", 600)),
        comment=data.get("comment", True),
        log=str(base / str(data["log"])) if data.get("log") else "",
        accounts_enforced=data.get("accounts_enforced", False),
    )
