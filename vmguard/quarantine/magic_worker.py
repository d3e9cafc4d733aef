"""The libmagic worker: a separate, resource-limited, unprivileged process.

libmagic parses hostile bytes and has a history of parser CVEs, so it never runs in
the process that holds the destination open. This script (run by path with `python -I`,
importing nothing of vmguard) limits its own memory, CPU time and file size before
loading libmagic, then gives up every descriptor it could open, root, and fork. It reads
length-prefixed buffers on stdin and answers each with a length-prefixed MIME type.

For speed it asks libmagic with a database cut to the tests that could match the buffer
(magic_index.py: same answers in a fraction of the time). A database serves every
buffer made of the bytes it was cut for; one is built for a kind of buffer seen twice,
within a budget of builds per file answered, and the last few are kept; any other
buffer gets the whole database.
"""

import codecs
import ctypes
import functools
import hashlib
import importlib.util
import json
import os
import resource
import struct
import sys
from collections import OrderedDict

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


def _load_index():  # noqa: ANN202 - the module
    # By path: this directory must not shadow the standard library (copy.py).
    spec = importlib.util.spec_from_file_location("magic_index", _beside("magic_index.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# magic.h's flags
_MIME_TYPE, _NO_CHECK_COMPRESS, _NO_CHECK_ELF, _NO_CHECK_CDF = 0x10, 0x1000, 0x10000, 0x40000


class _Libmagic:
    """The libmagic calls the worker makes, bound with ctypes. python-magic's binding did
    the same but cost each worker about 20 ms to start: finding the library runs
    `ldconfig -p` twice (ctypes.util), and it imports logging and threading."""

    _CALLS = {  # name: (result, arguments)
        "magic_open": (ctypes.c_void_p, [ctypes.c_int]),
        "magic_close": (None, [ctypes.c_void_p]),
        "magic_error": (ctypes.c_char_p, [ctypes.c_void_p]),
        "magic_load": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
        "magic_buffer": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]),
        "magic_getpath": (ctypes.c_char_p, [ctypes.c_char_p, ctypes.c_int]),
        "magic_version": (ctypes.c_int, []),
        "magic_load_buffers": (
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
            + [ctypes.c_size_t],
        ),
    }

    def __init__(self) -> None:
        library = ctypes.CDLL("libmagic.so.1")  # the soname: what python-magic found too
        for name, (result, arguments) in self._CALLS.items():
            call = getattr(library, name)
            call.restype, call.argtypes = result, arguments
            setattr(self, name, call)


class Types:
    """MIME types from libmagic, from the smallest database that gives the same answer."""

    MAX_DATABASES = 4  # each about 6 MiB with the regular expressions libmagic compiles
    FREE_BUILDS, FILES_PER_BUILD = 4, 64  # a build costs about as much as 15 files
    # A database is cut for a buffer's bytes and these: files of one kind differ mostly
    # in their digits, lower-case letters and white space, and few tests need only those
    # (many more need an upper-case letter).
    ALSO_OFFERED = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyz \t\n\r")
    MAX_OFFERED = 128  # a buffer of more kinds of bytes would keep nearly every test
    NARROW_AFTER = 64  # buffers a wide cut serves before one for just their bytes is built
    # The libmagic versions and databases (sha256 of magic.mgc) whose answers with cut
    # databases the tests compared with the whole database's (test_magic_index.py).
    # Another library may match differently, another database may hold a test the index
    # misreads: they get the whole database until the tests have run against them.
    INDEXED = frozenset(
        {
            (544, "3217786eeedc85aadcd389ff3ee281b71081412c78f354458db94f095d55ed59"),  # Debian 12
        }
    )

    def __init__(self) -> None:
        self.magic = _Libmagic()
        # No decompression and no deep ELF/OLE parsing (less parser surface). The encoding
        # check stays on: without it libmagic skips its text tests, and HTML, XML or a
        # shell script in UTF-16 would all be text/plain.
        self.flags = _MIME_TYPE | _NO_CHECK_COMPRESS | _NO_CHECK_ELF | _NO_CHECK_CDF
        self.index, self.full = self._load_full()
        self.cut: OrderedDict[frozenset[int], tuple] = OrderedDict()  # bytes -> see _build
        self.seen: dict[frozenset[int], int] = {}
        self.answered = self.builds = 0

    def _load_full(self) -> tuple:
        """The whole database, with its index if libmagic's default loading is only it."""
        index = self._read_index()
        if index is not None:
            return index, self._cookie(index.data)
        cookie = self.magic.magic_open(self.flags)
        if self.magic.magic_load(cookie, None) != 0:
            raise OSError(f"libmagic could not load its database: {self.magic.magic_error(cookie)}")
        return None, (cookie, None)

    def _read_index(self):  # noqa: ANN202 - a magic_index.Database, loaded by path
        index_module = _load_index()
        path = index_module.only_compiled_database(self.magic.magic_getpath(None, 0).decode())
        if path is None:
            return None
        with open(path, "rb") as fh:
            data = fh.read()
        tested = (self.magic.magic_version(), hashlib.sha256(data).hexdigest())
        if tested not in self.INDEXED:
            return None
        try:
            return index_module.Database(data)
        except ValueError:  # another format: libmagic's own loading, without an index
            return None

    def _cookie(self, database: bytes) -> tuple:
        """A libmagic handle on a database in memory, which must outlive it. libmagic
        only reads a database it is given (MAP_TYPE_USER), so it reads the bytes where
        they are, without a copy."""
        cookie = self.magic.magic_open(self.flags)
        buffers = (ctypes.c_void_p * 1)(ctypes.cast(ctypes.c_char_p(database), ctypes.c_void_p))
        sizes = (ctypes.c_size_t * 1)(len(database))
        if self.magic.magic_load_buffers(cookie, buffers, sizes, 1) != 0:
            raise OSError(f"libmagic refused a database: {self.magic.magic_error(cookie)}")
        return cookie, database

    def of(self, data: bytes) -> bytes:
        self.answered += 1
        cookie = self._cookie_for(data)[0]
        return self.magic.magic_buffer(cookie, data, len(data)) or b""  # NULL: a failure, "unknown"

    def mime(self, data: bytes) -> str:
        return self.of(data).decode("ascii", "replace")

    def _cookie_for(self, data: bytes) -> tuple:
        """The most recently used database cut for bytes that include all of data's (NUL is
        among them, as among every cut's), else the whole one or a new cut."""
        if self.index is None or not data or not self.index.cuttable(data):
            return self.full
        offer = None  # frozenset(data) | {0}: made only when needed (it costs as much as the test below)
        for cut_for in reversed(self.cut):  # the most recently used first
            entry = self.cut[cut_for]
            if data.translate(None, entry[2]):
                continue  # a byte it was not cut for
            if len(cut_for) > self.MAX_OFFERED:  # then data's bytes may be more than MAX_OFFERED
                offer = offer or frozenset(data) | {0}
                if len(offer) > self.MAX_OFFERED:
                    return self.full
            self.cut.move_to_end(cut_for)
            if entry[3] is not None:
                self._narrow(cut_for, entry[3], data)
            return entry
        offer = offer or frozenset(data) | {0}
        if len(offer) > self.MAX_OFFERED:
            return self.full
        kind = offer | self.ALSO_OFFERED
        if len(self.seen) > 4096:
            self.seen.clear()
        self.seen[kind] = self.seen.get(kind, 0) + 1
        if self.seen[kind] < 2 or not self._may_build():
            return self.full  # a kind of buffer seen once, or too many builds lately
        return self._build(kind)

    def _narrow(self, cut_for: frozenset[int], served: list, data: bytes) -> None:
        """Once a cut made for a kind's bytes plus ALSO_OFFERED has served NARROW_AFTER
        buffers, build one for just the bytes they held (tried first from then on; a buffer
        with another byte still finds the wider one): on files of one kind it leaves out
        the tests that need a letter none of them has (for the bench's text, 189 tests
        instead of 342, 27 against 69 us per file)."""
        served[0] += 1
        served[1].update(data)
        if served[0] < self.NARROW_AFTER:
            return
        narrow = frozenset(served[1])
        self.cut[cut_for] = (*self.cut[cut_for][:3], None)  # narrowed once
        if len(narrow) < len(cut_for) and narrow not in self.cut and self._may_build():
            self._build(narrow, wide=False)

    def _may_build(self) -> bool:
        return self.builds < self.FREE_BUILDS + self.answered // self.FILES_PER_BUILD

    def _build(self, kind: frozenset[int], wide: bool = True) -> tuple:
        self.builds += 1
        if len(self.cut) >= self.MAX_DATABASES:
            self.magic.magic_close(self.cut.popitem(last=False)[1][0])
        # The cookie, its database, the bytes it serves (deleted from a buffer by
        # translate: nothing left, it serves the buffer), and for a wide cut the count
        # and the bytes of the buffers it served (_narrow).
        served = [0, {0}] if wide else None
        self.cut[kind] = (*self._cookie(self.index.for_bytes(kind)), bytes(sorted(kind)), served)
        return self.cut[kind]


def _load_validators():  # noqa: ANN202 - the package
    # By path, like the index: the worker imports nothing of vmguard's package.
    directory = _beside("validators")
    spec = importlib.util.spec_from_file_location(
        "validators", os.path.join(directory, "__init__.py"), submodule_search_locations=[directory]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    for encoding in ("utf-8", "utf-16-le", "utf-16-be", "latin-1"):  # loaded now: no file can be opened later
        codecs.lookup(encoding)
    return module


ELIDED, HINT = 0x80000000, 0xFFFFFFFF  # detect.py's
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


def _answer(validators, types: Types, stdin, stdout) -> bytes:  # noqa: ANN001
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
    if "members" in answer or "fnames" in answer or "not_json" in answer:
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
    types = Types()
    validators = _load_validators()
    _confine_after_load()
    stdout = sys.stdout.buffer
    stdin = _Input(sys.stdin.fileno(), stdout)
    stdout.write(b"vmguard libmagic worker ready\n")  # detect.READY (no import of vmguard here)
    stdout.flush()
    while stdin.more():
        answer = _answer(validators, types, stdin, stdout)
        stdout.write(struct.pack("!I", len(answer)) + answer)
    stdout.flush()


if __name__ == "__main__":
    main()
