"""The sandbox of the HDF5 structure walk: a separate, resource-limited, unprivileged
process, like the libmagic workers (it reuses their confinement, magic_worker.py).

Run by path with `python -I`, importing nothing of vmguard: its stdin is vmguard's own
read-only copy of one file (a sealed memfd or the staged file, never the guest's), which
it maps, then gives up root, new descriptors and fork, walks the file
(validators/hdf5/) and writes the broken rule to stdout (nothing: none). Its data
segment is limited (the mapping is the page cache's, not its own memory)."""

import importlib.util
import mmap
import os
import resource
import sys
from pathlib import Path

DATA_LIMIT = 512 << 20  # the walk's own memory: a million extents fit
CPU_SECONDS = 600  # a backstop: the parent kills a walk that overruns its time


def _magic_worker():  # noqa: ANN202 - the module, by path (no vmguard import here)
    spec = importlib.util.spec_from_file_location("magic_worker", Path(__file__).with_name("magic_worker.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    worker = _magic_worker()
    worker._limit(resource.RLIMIT_DATA, DATA_LIMIT)
    worker._limit(resource.RLIMIT_CPU, CPU_SECONDS)
    worker._limit(resource.RLIMIT_FSIZE, 0)
    worker._limit(resource.RLIMIT_CORE, 0)
    validators = worker._load_validators()
    hdf5 = importlib.import_module("validators.hdf5")  # the walk's modules run on first use (_Held)
    size = os.fstat(0).st_size
    data = mmap.mmap(0, size, access=mmap.ACCESS_READ)  # before the descriptor limit: mmap dups
    worker._confine_after_load()
    try:
        hdf5.walk(data, size)
        answer = ""
    except validators.Invalid as err:
        answer = str(err)
    except Exception as err:  # noqa: BLE001 - a walk's failure is the file's: refused
        answer = f"hdf5: the structure walk failed ({type(err).__name__})"
    sys.stdout.write(answer)


if __name__ == "__main__":
    main()
