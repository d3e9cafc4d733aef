"""The libmagic worker: a separate, resource-limited, unprivileged process.

libmagic parses hostile bytes and has a history of parser CVEs, so it never runs in
the process that holds the destination open. This script (run by path with `python -I`,
importing nothing of vmguard) limits its own memory, CPU time and file size before
loading libmagic, then gives up every descriptor it could open, root, and fork. It reads
length-prefixed buffers on stdin and answers each with a length-prefixed MIME type
(libmagic's, asked as magic_types.py asks it) and the validators' verdict.
"""

import codecs
import functools
import importlib.machinery
import importlib.util
import json
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


def _beside(name: str) -> str:
    # os.path, not pathlib: pathlib's imports (urllib, ipaddress) cost a worker 6 ms to start
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)


def _load(name: str):  # noqa: ANN202 - the module
    # By path: this directory must not shadow the standard library (copy.py).
    spec = importlib.util.spec_from_file_location(name, _beside(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# The standard library modules the validators import (a test reads their imports): loaded
# before the worker is confined, as a module held in _Held is run only when first imported.
_STDLIB = (
    "array", "bisect", "collections", "collections.abc", "ctypes", "dataclasses", "datetime", "decimal",
    "encodings.cp437", "enum", "heapq", "itertools", "lzma", "math", "operator", "re", "tarfile", "time",
    "typing", "uuid", "zlib",
)  # fmt: skip


class _Held(importlib.machinery.SourceFileLoader):
    """The validators package's modules, read as code before the worker is confined (no
    file can be opened after) and run when first imported: a job of text runs none of the
    other formats' (their dataclasses and tables cost about 35 ms of CPU a worker). A
    finder on sys.meta_path; each module is loaded by a loader of this class."""

    def __init__(self, name: str, path: str, code: dict | None = None) -> None:
        super().__init__(name, path)
        self.code = code if code is not None else {}

    @classmethod
    def read(cls, package: str, directory: str) -> "_Held":
        held = cls(package, directory)
        for root, _dirs, files in os.walk(directory):
            parts = os.path.relpath(root, directory).split(os.sep)
            prefix = ".".join([package, *(p for p in parts if p != ".")])
            for file in sorted(f for f in files if f.endswith(".py")):
                name = prefix if file == "__init__.py" else f"{prefix}.{file[:-3]}"
                path = os.path.join(root, file)
                held.code[name] = (path, importlib.machinery.SourceFileLoader(name, path).get_code(name))
        return held

    def find_spec(self, name: str, path=None, target=None):  # noqa: ANN001, ANN201, ARG002 - a meta path finder's
        if name not in self.code:
            return None
        origin = self.code[name][0]
        return importlib.util.spec_from_file_location(name, origin, loader=_Held(name, origin, self.code))

    def get_code(self, fullname: str):  # noqa: ANN201 - the module's code object
        return self.code[fullname][1]


# The validators that bind a shared library with ctypes when imported (libz, liblz4 and
# libxxhash, libzstd): run before the worker is confined, which opens no file after, or
# their library would be missing and every file of the codec refused (a test finds them).
NATIVE = ("validators.deflateblocks", "validators.root_lz4", "validators.root_zstd")


def _load_validators():  # noqa: ANN202 - the package
    # By path, like magic_types: the worker imports nothing of vmguard's package.
    sys.meta_path.insert(0, _Held.read("validators", _beside("validators")))
    for name in (*_STDLIB, "validators", *NATIVE):
        importlib.import_module(name)
    module = sys.modules["validators"]
    for encoding in ("utf-8", "utf-16-le", "utf-16-be", "latin-1"):  # loaded now: no file can be opened later
        codecs.lookup(encoding)
    return module


ELIDED, HINT = 0x80000000, 0xFFFFFFFF  # detect_process.py's
HINT_MIN = 1 << 20  # skips shorter than this are not worth a message
_ZEROS = memoryview(bytes(1 << 20))  # what a left-out chunk reads as (never read: skipped)


class _Input:
    """stdin, read so that answers wait in stdout's buffer until the worker would wait:
    stdout is flushed before every read that may block (and only then), so the parent
    gets each answer before the worker needs more bytes from it, and a run of small
    files is answered with one write instead of one per file."""

    READ_SIZE = 1 << 16

    def __init__(self, fd: int, stdout) -> None:  # noqa: ANN001
        self.fd, self.stdout = fd, stdout
        self.buf, self.pos = b"", 0

    def read(self, n: int) -> bytes:
        end = self.pos + n
        if end <= len(self.buf):
            data, self.pos = self.buf[self.pos : end], end
            return data
        parts, have = [self.buf[self.pos :]], len(self.buf) - self.pos
        while have < n:
            self.stdout.flush()  # about to wait for the parent: it has every answer
            chunk = os.read(self.fd, max(self.READ_SIZE, n - have))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts)
        self.pos = min(n, len(self.buf))
        return self.buf if self.pos == len(self.buf) else self.buf[: self.pos]

    def more(self) -> bool:
        """Whether another file comes (waits for its first byte)."""
        return bool(self.read(1)) and self._unread(1)

    def _unread(self, n: int) -> bool:
        self.pos -= n
        return True


class _Frames:
    """One file's chunks from stdin, up to its empty frame. When the validator skips to
    an offset, the parent is told (a HINT) and may leave out whole chunks before it
    (ELIDED frames): they stand in as zeros that the skip passes over unread. A chunk
    left out anywhere the validator is not skipping is a broken protocol: the worker
    stops (the file gets no answer and is refused)."""

    def __init__(self, stdin, stdout) -> None:  # noqa: ANN001
        self.stdin, self.stdout = stdin, stdout
        self.pos = self.skip_to = 0

    def hint(self, until: int) -> None:
        if until > self.skip_to:
            self.skip_to = until
            self.stdout.write(struct.pack("!IQ", HINT, min(until, 2**64 - 1)))
            self.stdout.flush()

    def __iter__(self):  # noqa: ANN204
        while len(header := self.stdin.read(4)) == 4:
            size = struct.unpack("!I", header)[0]
            if size == 0:
                return
            if size & ELIDED:
                size &= ~ELIDED
                if self.pos + size > self.skip_to:  # no answer at all, never a wrong one
                    raise SystemExit("the parent left out bytes the validator reads")
                self.pos += size
                yield _ZEROS[:size] if size <= len(_ZEROS) else bytes(size)
                continue
            data = self.stdin.read(size)
            self.pos += len(data)
            yield data
        raise EOFError("the parent closed the pipe inside a file")


@functools.cache
def _top_class(validators):  # noqa: ANN001, ANN202
    """The class of a file's own stream (not one inside a container): its long skips are
    hinted. Made once: a class statement per file cost more than libmagic's cut tests."""

    class Top(validators.Stream):
        def __init__(self, frames: _Frames) -> None:
            super().__init__(iter(frames))
            self.frames = frames

        def skip(self, n: int, what: str, fmt: str) -> None:
            if n >= HINT_MIN:
                self.frames.hint(self.pos + n)
            super().skip(n, what, fmt)

    return Top


def _top_stream(validators, frames: _Frames):  # noqa: ANN001, ANN202
    return _top_class(validators)(frames)


def _answer(validators, types, stdin, stdout) -> bytes:  # noqa: ANN001 - types: a magic_types.Types
    """Type one file and validate it to its last byte; the answer as JSON."""
    frames = _Frames(stdin, stdout)
    stream = _top_stream(validators, frames)
    head = stream.peek(validators.HEAD_SIZE)
    mime = validators.own_type(stream.peek(validators.IDENTIFY_SIZE)) or types.mime(head) or None
    mime = mime and validators.libmagic_type(mime)
    answer = {"mime": mime, "parts": [[mime, None]], "problem": None}
    if mime is None:
        answer["problem"] = ["type-unknown", "libmagic failed on this file"]
    else:
        inside = validators.Inside(stream)
        try:
            answer["parts"] = validators.vet(stream, types.mime, mime=mime, inside=inside)
            answer.update(inside.wire())  # member names, gzip FNAMEs: the parent judges them
            # The type reported is the one whose validator admitted the bytes (libmagic's
            # guess from the head may be text/plain for JSON, or JSON lines for text).
            answer["mime"] = answer["parts"][0][0]
        except validators.Invalid as err:
            answer["problem"] = [err.code, str(err)]
            answer["parts"] = [[mime, validators.validator_for(mime)]]
        except Exception as err:  # noqa: BLE001 - a validator's failure is the file's: refused
            answer["problem"] = ["type-unknown", f"the validator failed ({type(err).__name__})"]
    if not stream.at_end():
        frames.hint(2**63)  # judged: the rest of the file, to its end frame, is not looked at
    for _ in stream.chunks():
        pass
    return _encoded(answer)


_ENCODED: dict[tuple, bytes] = {}  # most files of a job get one of a few answers


def _encoded(answer: dict) -> bytes:
    """The answer as JSON (made once per distinct answer, up to a bound)."""
    problem = answer["problem"]
    if "members" in answer or "fnames" in answer or "not_json" in answer or "named" in answer:
        return json.dumps(answer).encode()  # names: one file's own, not worth keeping
    key = (answer["mime"], *map(tuple, answer["parts"]), None if problem is None else tuple(problem))
    encoded = _ENCODED.get(key)
    if encoded is None:
        if len(_ENCODED) >= 256:
            _ENCODED.clear()
        encoded = _ENCODED[key] = json.dumps(answer).encode()
    return encoded


def main() -> None:
    _confine_before_load()
    types = _load("magic_types").Types(_load("magic_index"))
    leak = types.heap_leak()
    # said instead of ready (detect_process.REFUSED): the vet stops, not a type by file order
    if leak is not None:
        why = f"{leak}, so a file's type would follow the files before it"
        sys.stdout.buffer.write(f"vmguard libmagic worker refused: {why}\n".encode())
        sys.stdout.buffer.flush()
        raise SystemExit(3)
    validators = _load_validators()
    _confine_after_load()
    stdout = sys.stdout.buffer
    stdin = _Input(sys.stdin.fileno(), stdout)
    stdout.write(b"vmguard libmagic worker ready\n")  # detect_process.READY (no import of vmguard here)
    stdout.flush()
    while stdin.more():
        answer = _answer(validators, types, stdin, stdout)
        stdout.write(struct.pack("!I", len(answer)) + answer)
    stdout.flush()


if __name__ == "__main__":
    main()
