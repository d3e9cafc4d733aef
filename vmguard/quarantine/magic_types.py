"""libmagic's MIME types, asked of the smallest database that gives the same answer.

The libmagic calls bound with ctypes, and the databases cut to the tests that could
match a buffer (magic_index.py: same answers in a fraction of the time). A database
serves every buffer made of the bytes it was cut for; one is built for a kind of buffer
seen twice, within a budget of builds per file answered, and the last few are kept; any
other buffer gets the whole database. Loaded by path in the libmagic worker
(magic_worker.py), so it imports nothing of vmguard: it is handed magic_index.
"""

import ctypes
import hashlib
from collections import OrderedDict
from types import ModuleType

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


def _allocations_zeroed() -> bool:
    """Whether memory malloc hands out again holds zeros, not what was freed, at the
    sizes libmagic's text pass asks for (six bytes a character of a 512-byte head)."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.restype, libc.free.argtypes = None, [ctypes.c_void_p]
    for size in (24, 102, 600, 1032, 3072):
        block = libc.malloc(size)
        ctypes.memset(block, 0x61, size)
        libc.free(block)
        block = libc.malloc(size)
        held = ctypes.string_at(block, size)
        libc.free(block)
        if held.count(0) != size:
            return False
    return True


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

    def __init__(self, index_module: ModuleType) -> None:
        """`index_module`: magic_index, as the caller loaded it (the worker: by path)."""
        self.magic = _Libmagic()
        self.index_module = index_module
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
        index_module = self.index_module
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

    # A full-word test ending the buffer (`#! /usr/bin/stap`), typed after text that left
    # a letter, then a blank, where its text pass reads past its copy (heap_leak).
    PROBE, LEFT = b"#! /usr/bin/stap", (b" " * 17, b"a" * 17)

    def heap_leak(self) -> str | None:
        """Why an answer could depend on the files typed before, or None.

        libmagic keeps nothing of a buffer on its handle that changes the next answer
        (test_magic_state.py types a corpus after each of its buffers), but 5.44 reads a
        byte it never wrote: a full-word test (`search/1/fwt`: `#! /usr/bin/stap`,
        texlua, luatex) that ends the buffer reads the byte after it in the text pass's
        copy, a fresh malloc, and the test matches only if that byte is NUL or blank. So
        the answer is the bytes' alone only if every allocation comes zeroed (the worker's
        glibc tunables: perturb, and no tcache, which perturb does not cover). Checked
        here, not assumed: another libc, or tunables glibc no longer reads, would leave
        each file's type to the file before it (a guest orders its files by their names)."""
        if not _allocations_zeroed():
            return "the allocator hands out memory that is not zeroed"
        whole = self.full[0]  # not of(): the probes would spend the builds of cut databases
        answers = set()
        for data in self.LEFT:  # the blank first: the text pass's first copy is fresh memory
            self.magic.magic_buffer(whole, data, len(data))
            answers.add(self.magic.magic_buffer(whole, self.PROBE, len(self.PROBE)))
        if len(answers) > 1:
            return f"libmagic typed {self.PROBE!r} as {b' and '.join(sorted(answers))!r} after other files"
        return None

    def _cookie_for(self, data: bytes) -> tuple:
        """The most recently used database cut for bytes that include all of data's (NUL is
        among them, as among every cut's), else the whole one or a new cut."""
        if self.index is None or not data or not self.index.cuttable(data):
            return self.full
        offer = None  # frozenset(data) | {0}: made only when needed (it costs as much as the test below)
        for cut_for in reversed(self.cut):  # the most recently used first
            entry = self.cut[cut_for]
            if data.translate(entry[2]) != data:
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
        # The cookie, its database, a table that keeps the bytes it serves and changes
        # every other (a buffer translate leaves equal is served: a translate by table costs
        # fewer instructions than one deleting a set's bytes), and for a wide cut the count
        # and the bytes of the buffers it served (_narrow).
        served = [0, {0}] if wide else None
        kept = bytes(b if b in kind else (b + 1) % 256 for b in range(256))
        self.cut[kind] = (*self._cookie(self.index.for_bytes(kind)), kept, served)
        return self.cut[kind]
