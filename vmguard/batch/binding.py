"""The binding of a job to a VM, decided only by root-side hooks.

start: choose the pool (pools.py), take a free VM under the assignment lock, hold what
an earlier job left (sealed under THAT job, never this one), open the quarantine to
the job's user, record the holder. finish: find the VM by the job's id in root's
record (never by a name, comment or variable the user sets), close and seal the
quarantine, and hand the sealed folder to the vet. A holder whose hook died (node
crash, epilog killed) is found by the next start on that VM and its output is held.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from vmguard.batch import sealing
from vmguard.batch.config import BatchConfig, Pool
from vmguard.batch.job import BatchJob
from vmguard.batch.pools import choose_pool
from vmguard.batch.state import Holder, Phase, State, boot_id
from vmguard.core.errors import BatchError, BatchRefused
from vmguard.inventory.loader import load_inventory

# Whether a job still runs, asked of the batch system: True, False (gone), None (unknown).
Alive = Callable[[BatchJob], bool | None]


@dataclass(frozen=True)
class Sealed:
    """A job's output, moved out of its VM's quarantine: what the vet reads."""

    holder: Holder
    held: Path
    note: str = ""  # why this was not the job's own epilog


OnHeld = Callable[[Sealed], object]


def groups_of(job: BatchJob) -> frozenset[str]:
    """The job owner's group names, from the host's user database (root's facts)."""
    try:
        ids = os.getgrouplist(pwd.getpwuid(job.uid).pw_name, job.gid)
    except KeyError:
        ids = [job.gid]
    names = set()
    for gid in ids:
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return frozenset(names)


def quarantines(config: BatchConfig, pool: Pool) -> dict[str, str]:
    """Each VM of the pool and its quarantine, as the inventory says; refused if missing."""
    inventory = load_inventory(config.inventory)
    found = {}
    for vm in pool.vms:
        entry = inventory.entry_for(vm)
        if entry is None or not entry.quarantine:
            what = "is not in the inventory" if entry is None else "has no quarantine in the inventory"
            raise BatchRefused(f"VM {vm} of pool {pool.name} {what} {config.inventory}")
        found[vm] = entry.quarantine_for(vm)
    return found


def start(job: BatchJob, config: BatchConfig, alive: Alive, on_held: OnHeld) -> Holder | None:
    """Give the job a VM of its pool: its holder, or None when it is no VM job. What dead
    holders left on the way is sealed under their own jobs and passed to `on_held`."""
    pool = choose_pool(config, job, groups_of(job))
    if pool is None:
        return None
    places = quarantines(config, pool)
    state = State(config.state_dir)
    with state.locked():
        if (mine := state.of_job(job.key)) is not None and _same_run(mine, job):
            return mine  # the hook ran twice for this job; any other holder of the id is
            # judged like every holder below (a reused id never inherits a VM or its files)
        busy = []
        for vm, quarantine in places.items():
            try:
                holder, why = _try_vm(state, job, pool, vm, quarantine, alive, on_held)
            except BatchError as err:  # this VM is out of service; another may do
                holder, why = None, f"cannot be cleared: {err}"
            if holder is not None:
                return holder
            busy.append(f"{vm} {why}")
    raise BatchRefused(f"no free VM in pool {pool.name}: {'; '.join(busy)}")


def _try_vm(
    state: State, job: BatchJob, pool: Pool, vm: str, quarantine: str, alive: Alive, on_held: OnHeld
) -> tuple[Holder | None, str]:
    with state.vm_lock(vm, blocking=False) as free:
        if not free:
            return None, "is being vetted"
        current = state.holder(vm)
        if current is not None:
            why = _stale(current, alive)
            if not why:
                return None, f"is held by job {current.job.key}"
            on_held(_recover(state, current, why))
        if not sealing.is_empty(quarantine):
            on_held(_leftover(vm, pool, quarantine))
        holder = Holder(vm, pool.name, quarantine, job, Phase.ASSIGNED, boot_id(), str(time.time_ns()))
        state.hold(holder)  # recorded before the user can write: a crash here is recovered
        sealing.set_owner(quarantine, job.uid, job.gid)
        return holder, ""


def _same_run(holder: Holder, job: BatchJob) -> bool:
    """The holder is this very job (same owner, this boot, still assigned)."""
    return (holder.job.uid, holder.boot_id, holder.phase) == (job.uid, boot_id(), Phase.ASSIGNED)


def _stale(holder: Holder, alive: Alive) -> str:
    """Why the holder's hook will never come ("" when it may still)."""
    if holder.boot_id != boot_id():
        return "the node rebooted before its epilog ran"
    if holder.phase is Phase.SEALING:
        return "its epilog stopped before the vet finished"
    if alive(holder.job) is False:
        return "the job ended but its epilog did not run"
    return ""


def _recover(state: State, holder: Holder, why: str) -> Sealed:
    sealing.set_owner(holder.quarantine, 0, 0)
    held = sealing.seal(holder.quarantine, holder.held_name)
    state.release(holder)
    return Sealed(holder, held, f"held, not vetted: {why}")


def _leftover(vm: str, pool: Pool, quarantine: str) -> Sealed:
    """Files in a free VM's quarantine belong to no job: held under a name of their own."""
    orphan = BatchJob(runner="leftover", id=f"{vm}-{time.time_ns()}", user="root", uid=0, gid=0)
    holder = Holder(vm, pool.name, quarantine, orphan, Phase.SEALING, boot_id())
    sealing.set_owner(quarantine, 0, 0)
    return Sealed(holder, sealing.seal(quarantine, orphan.key), "held: files of no job in a free VM")


def finish(job: BatchJob, config: BatchConfig, vet: OnHeld) -> Holder | None:
    """Seal the job's VM and vet its output under the VM's lock; None if it held no VM
    (or another hook is already sealing it)."""
    state = State(config.state_dir)
    with contextlib.ExitStack() as stack:
        with state.locked():
            holder = state.of_job(job.key)
            if holder is None or not stack.enter_context(state.vm_lock(holder.vm, blocking=False)):
                return None
            holder = replace(holder, phase=Phase.SEALING)
            state.hold(holder)
        sealing.set_owner(holder.quarantine, 0, 0)
        vet(Sealed(holder, sealing.seal(holder.quarantine, holder.held_name)))
        with state.locked():
            state.release(holder)
    return holder
