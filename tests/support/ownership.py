"""Names that carry the pid of the test run that made them.

A namespace or domain named `<prefix><pid>-...` is this run's own, a concurrent run's
(its pid alive), or a leftover of a run that died before its clean-up (pid gone).
"""

from __future__ import annotations

import os
import re
import secrets


def owned_name(prefix: str, tag: str = "") -> str:
    middle = f"-{tag}" if tag else ""
    return f"{prefix}{os.getpid()}{middle}-{secrets.token_hex(3)}"


def owner_pid(name: str, prefix: str) -> int | None:
    match = re.match(rf"{re.escape(prefix)}(\d+)-", name)
    return int(match.group(1)) if match else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def left_by_dead_run(name: str, prefix: str) -> bool:
    owner = owner_pid(name, prefix)
    return owner is not None and not pid_alive(owner)
