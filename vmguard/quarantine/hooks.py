"""Named points in a vet where tests interfere for real: race the walk, or kill -9.

`reach(name, path)` is called at every step that matters for races and crash safety.
Tests in the same process install a callable with `set_hook` (to swap a file for a
symlink at the exact moment between check and copy, say); tests of a real `vmguard vet`
process set VMGUARD_TEST_KILL_AT=N, and the process SIGKILLs itself at the Nth point.
Both are inert unless set, and cost one comparison per point.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

KILL_ENV = "VMGUARD_TEST_KILL_AT"

Hook = Callable[[str, tuple[str, ...]], None]

_hook: Hook | None = None
_kill_at = int(os.environ.get(KILL_ENV) or 0)
_count = 0


def set_hook(hook: Hook | None) -> None:
    global _hook
    _hook = hook


def reach(point: str, path: tuple[str, ...] = ()) -> None:
    global _count
    _count += 1
    if _hook is not None:
        _hook(point, path)
    if _count == _kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
