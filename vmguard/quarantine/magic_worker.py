"""The libmagic worker: a separate, resource-limited, unprivileged process.

libmagic parses hostile bytes and has a history of parser CVEs, so it never runs in
the process that holds the destination open. This script (run by path with `python -I`,
importing nothing of vmguard) limits its own memory, CPU time and file size before
loading libmagic, then gives up every descriptor it could open, root, and fork. It reads
length-prefixed buffers on stdin and answers each with a length-prefixed MIME type.
"""

import os
import resource
import struct
import sys

MEMORY_LIMIT = 256 << 20
CPU_SECONDS = 3600  # a backstop: the parent kills a worker that overruns its per-file time
NOBODY = 65534


def _limit(which: int, value: int) -> None:
    resource.setrlimit(which, (value, value))


def _confine_before_load() -> None:
    _limit(resource.RLIMIT_AS, MEMORY_LIMIT)
    _limit(resource.RLIMIT_CPU, CPU_SECONDS)
    _limit(resource.RLIMIT_FSIZE, 0)
    _limit(resource.RLIMIT_CORE, 0)


def _confine_after_load() -> None:
    _limit(resource.RLIMIT_NOFILE, 3)  # stdin, stdout, stderr: no new descriptor at all
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    _limit(resource.RLIMIT_NPROC, 0)


def _open_magic():  # noqa: ANN202 - ctypes cookie
    import magic  # python-magic's thin binding to libmagic

    # No decompression and no deep ELF/OLE parsing (less parser surface); no charset
    # detection (only the type is used, and it costs a fifth of the time on text).
    flags = (
        magic.MAGIC_MIME_TYPE
        | magic.MAGIC_NO_CHECK_COMPRESS
        | magic.MAGIC_NO_CHECK_ELF
        | magic.MAGIC_NO_CHECK_CDF
        | magic.MAGIC_NO_CHECK_ENCODING
    )
    cookie = magic.magic_open(flags)
    magic.magic_load(cookie, None)
    return magic, cookie


def _answer(magic, cookie, data: bytes) -> bytes:  # noqa: ANN001
    try:
        result = magic.magic_buffer(cookie, data)
    except Exception:  # noqa: BLE001 - any libmagic failure is "unknown" to the parent
        return b""
    return result if isinstance(result, bytes) else (result or "").encode()


def main() -> None:
    _confine_before_load()
    magic, cookie = _open_magic()
    _confine_after_load()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while len(header := stdin.read(4)) == 4:
        data = stdin.read(struct.unpack("!I", header)[0])
        answer = _answer(magic, cookie, data)
        stdout.write(struct.pack("!I", len(answer)) + answer)
        stdout.flush()


if __name__ == "__main__":
    main()
