"""Which pool a job gets: what it asked for (or its partition's pool), if its owner may.

Pure functions of (settings, job, the owner's groups). The request is the user's and is
only a wish; the owner's name, groups and account come from root-side facts.
"""

from __future__ import annotations

import re

from vmguard.batch.config import BatchConfig, Pool
from vmguard.batch.job import BatchJob
from vmguard.core.errors import BatchRefused

REQUEST_PREFIX = "vmpool-"  # Slurm license or node feature "vmpool-<pool>"


def requested(tokens: list[str]) -> tuple[str, ...]:
    """Pool names in Slurm's `Licenses=vmpool-mc:1,x` or `Features=vmpool-mc&fast` tokens."""
    names = (re.split(r"[:*]", t)[0].strip() for t in tokens)
    return tuple(sorted({n.removeprefix(REQUEST_PREFIX) for n in names if n.startswith(REQUEST_PREFIX)}))


def may_use(pool: Pool, job: BatchJob, groups: frozenset[str]) -> bool:
    """Nobody may use a pool that lists no users, groups or accounts."""
    return (
        job.user in pool.users
        or bool(groups & pool.groups)
        or (bool(job.account) and job.account in pool.accounts)
    )


def _asked(config: BatchConfig, job: BatchJob) -> Pool | None:
    if len(job.requests) > 1:
        raise BatchRefused(f"the job asks for pools {', '.join(job.requests)}: ask for one")
    if job.requests:
        pool = config.pool(job.requests[0])
        if pool is None:
            known = ", ".join(p.name for p in config.pools) or "none"
            raise BatchRefused(f"unknown VM pool {job.requests[0]!r} (pools here: {known})")
        return pool
    by_queue = [p for p in config.pools if job.queue and job.queue in p.partitions]
    if len(by_queue) > 1:
        raise BatchRefused(f"partition {job.queue} belongs to pools {', '.join(p.name for p in by_queue)}")
    return by_queue[0] if by_queue else None


def choose_pool(config: BatchConfig, job: BatchJob, groups: frozenset[str]) -> Pool | None:
    """The job's pool; None when it is no VM job (asked for none, partition has none)."""
    pool = _asked(config, job)
    if pool is not None and not may_use(pool, job, groups):
        who = f"user {job.user} (groups {', '.join(sorted(groups)) or '-'}; account {job.account or '-'})"
        raise BatchRefused(f"{who} may not use VM pool {pool.name}")
    return pool
