"""vmguard's wheel and its dependencies' wheels, made once per test run.

The install tests (docs/install.md's /opt and pipx lines, the fresh-venv demo), the catalog
test, the Slurm site and the Ansible role each built the wheel (and most fetched the same
dependencies) again: over a minute of CI's run. The dependencies are fetched here as binary wheels only
(`--only-binary :all:`), so an install from this folder still shows that a host needs no
compiler; what a test adds (the role's libvirt-python) goes into its own copy.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Wheelhouse:
    folder: Path
    wheel: Path  # vmguard's own

    @property
    def offline(self) -> dict[str, str]:
        """pip's environment that installs from this folder alone (no package index)."""
        return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(self.folder)}


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, timeout=600, capture_output=True)


def build_wheel(folder: Path) -> Path:
    """The wheel of this checkout (no build isolation: no network needed)."""
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(folder), str(REPO))
    (wheel,) = folder.glob("vmguard-*.whl")
    return wheel


def with_dependencies(wheel: Path) -> Wheelhouse:
    """`wheel`'s folder, with its dependencies fetched beside it from the package index."""
    _pip("download", "--only-binary", ":all:", "-d", str(wheel.parent), str(wheel))
    return Wheelhouse(wheel.parent, wheel)


@dataclass(frozen=True)
class Early:
    """The wheel and the wheelhouse being made in a thread (None: not asked for)."""

    wheel: Future[Path] | None
    wheelhouse: Future[Wheelhouse] | None


@contextmanager
def start_early(folder: Path, with_deps: bool) -> Iterator[Early]:
    """The wheel, then (with_deps) its dependencies, made one after the other in a thread;
    on leaving, a fetch not started yet is dropped and a running one awaited."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wheelhouse")
    wheel = pool.submit(build_wheel, folder)
    house = pool.submit(lambda: with_dependencies(wheel.result())) if with_deps else None
    try:
        yield Early(wheel, house)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
