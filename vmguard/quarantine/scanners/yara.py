"""The `yara` engine: YARA rules (yara-python) over each file's bytes, in process.

The rule set is vmguard's shipped secret rules (rules/secrets.yar: private keys,
Kerberos keytabs and caches, shadow lines, cloud and grid credentials, password files)
plus the site's files from `scanners.yara.rules`, compiled once per vet. A site file
that does not compile is bad input (exit 2), located as file:line:col. A hit rejects
the file and names the rule and the offset of its first matching string.

Small files are read with one pread; larger ones are mapped. What a gzip or tar holds is
scanned too, each inner file on its own (unpack.py): a hit there is named
`RULE in gzip:tar:NAME`, its offset within that inner file. The descriptor is the one
the copy phase checked; a guest that truncates its file under the mapping during a dry
run (when the source itself is scanned) can make the vet die of SIGBUS: it publishes
nothing then, like any other crash.
"""

from __future__ import annotations

import binascii
import math
import mmap
import os
import re
import stat
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from importlib import resources

from vmguard.core.errors import ExitCode
from vmguard.policy.model import YaraScanner
from vmguard.quarantine.scanners import unpack
from vmguard.quarantine.scanners.interface import Engine, Hit, ScanError, ScanResult, done

SHIPPED = "secrets.yar"
READ_MAX = 1 << 20  # up to this size a file is read, not mapped: cheaper for small files
B64_MIN, B64_MAX = 16, 64 << 20  # whole-file base64 is decoded between these sizes
_B64 = re.compile(rb"[A-Za-z0-9+/\s]*")
_LOCATION = re.compile(r"^(?P<file>.*)\((?P<line>[0-9]+)\): (?P<message>.*)$", re.S)


def _yara():
    try:
        import yara
    except ImportError as err:
        raise ScanError("the yara scanner needs yara-python (pip install yara-python)") from err
    return yara


def shipped_rules() -> str:
    """The path of the shipped rule file inside the installed package."""
    return str(resources.files("vmguard.quarantine.scanners").joinpath("rules", SHIPPED))


def compile_rules(config: YaraScanner):
    """The compiled rule set, or ScanError (exit 2) naming every site file that is wrong."""
    yara = _yara()
    files = ([shipped_rules()] if config.shipped else []) + list(config.rules)
    problems = [f"{path}:0:0: cannot read the rule file: {err.strerror}" for path, err in _unreadable(files)]
    if problems:
        raise ScanError("\n".join(problems), ExitCode.BAD_INPUT)
    try:
        return yara.compile(filepaths={f"r{i}": path for i, path in enumerate(files)})
    except yara.SyntaxError as err:
        raise ScanError(_located(str(err)), ExitCode.BAD_INPUT) from err
    except yara.Error as err:
        raise ScanError(f"yara could not compile the rules: {err}", ExitCode.BAD_INPUT) from err


def _unreadable(files: list[str]) -> list[tuple[str, OSError]]:
    bad = []
    for path in files:
        try:
            _regular(path)
        except OSError as err:
            bad.append((path, err))
    return bad


def _regular(path: str) -> None:
    """OSError unless `path` is a readable regular file (yara would block on a FIFO)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(0, "not a regular file")
    with open(path, "rb"):
        pass


def _located(message: str) -> str:
    """yara's `file(line): message` as file:line:col (yara gives no column)."""
    found = _LOCATION.match(message)
    if found is None:
        return f"yara: {message}"
    return f"{found['file']}:{found['line']}:1: yara: {found['message']}"


@dataclass(frozen=True, slots=True)
class RuleFileNote:
    """What compiling one site rule file said: an error, or a warning (a string that
    slows every scan down). `file` and `line` are yara's (an included file may be
    another), None when the file could not be read at all."""

    text: str
    file: str | None = None
    line: int = 0
    warning: bool = False


def check_rule_file(path: str) -> tuple[RuleFileNote, ...]:
    """`vmguard policy check`'s question about one site rule file, compiled alone."""
    yara = _yara()
    try:
        _regular(path)
        rules = yara.compile(filepath=path)
    except OSError as err:
        return (RuleFileNote(f"cannot read the rule file {path}: {err.strerror}"),)
    except yara.SyntaxError as err:
        return (_note(str(err), warning=False),)
    except yara.Error as err:
        return (RuleFileNote(f"yara could not compile {path}: {err}"),)
    return tuple(_note(text, warning=True) for text in rules.warnings)


def _note(message: str, warning: bool) -> RuleFileNote:
    found = _LOCATION.match(message)
    if found is None:
        return RuleFileNote(f"yara: {message}", warning=warning)
    return RuleFileNote(f"yara: {found['message']}", found["file"], int(found["line"]), warning)


class Yara(Engine):
    name = "yara"

    def __init__(self, config: YaraScanner) -> None:
        self.yara = _yara()
        self.rules = compile_rules(config)
        self.timeout = max(1, math.ceil(config.timeout))  # yara counts whole seconds

    def submit(self, fd: int) -> Future[ScanResult]:
        return done(self.scan(fd))

    def scan(self, fd: int) -> ScanResult:
        try:
            hits = self._whole(fd) + self._decoded(fd) + self._inner(fd)
        except self.yara.TimeoutError:
            why = f"timed out after {self.timeout}s"
            return ScanResult(self.name, failure=why, note=f"yara: failed: {why}")
        except self.yara.Error as err:
            return ScanResult(self.name, failure=str(err), note=f"yara: failed: {err}")
        note = "; ".join(map(str, hits)) if hits else "yara: no rule matched"
        return ScanResult(self.name, hits, note=note)

    def _whole(self, fd: int) -> tuple[Hit, ...]:
        """The file's own bytes, all at once."""
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0) if size <= READ_MAX else mmap.mmap(fd, size, prot=mmap.PROT_READ)
        try:
            matches = self.rules.match(data=data, timeout=self.timeout, fast=True)
        finally:
            if isinstance(data, mmap.mmap):
                data.close()
        return tuple(Hit(self.name, m.rule, _first_offset(m)) for m in matches)

    def _decoded(self, fd: int) -> tuple[Hit, ...]:
        """A file that is base64 as a whole (a key or keytab encoded for a CI variable or
        a Kubernetes secret), decoded and scanned with every rule: named `RULE in base64`."""
        data = _base64_whole(fd)
        if data is None:
            return ()
        matches = self.rules.match(data=data, timeout=self.timeout, fast=True)
        return tuple(Hit(self.name, f"{m.rule} in base64", _first_offset(m)) for m in matches)

    def _inner(self, fd: int) -> tuple[Hit, ...]:
        """Each file inside a gzip or tar, in windows; a rule's first match per inner file.
        `timeout` bounds the whole of it, inflation included: a gzip of a few GiB that
        inflates 200 times (what the bomb bound lets through) is scanner-failed, not hours."""
        if not unpack.is_container(os.pread(fd, unpack.HEAD, 0)):
            return ()
        deadline, first = time.monotonic() + self.timeout, {}
        for where, chunks in unpack.inner_files(_chunks(fd)):
            for start, window in unpack.windows(chunks):
                left = math.ceil(deadline - time.monotonic())
                if left <= 0:
                    raise self.yara.TimeoutError
                for m in self.rules.match(data=window, timeout=left, fast=True):
                    name, offset = f"{m.rule} in {where}", start + _first_offset(m)
                    first[name] = min(first.get(name, offset), offset)
        return tuple(Hit(self.name, name, offset) for name, offset in first.items())


def _base64_whole(fd: int) -> bytes | None:
    """The decoded bytes of a file that is nothing but base64 (line breaks and spaces
    allowed), or None. The first bytes decide cheaply for the usual file that is not."""
    size = os.fstat(fd).st_size
    if not B64_MIN <= size <= B64_MAX or not _B64.fullmatch(os.pread(fd, 4096, 0).rstrip(b"=\r\n\t ")):
        return None
    text = re.sub(rb"\s+", b"", os.pread(fd, size, 0))
    if len(text) % 4 or not _B64.fullmatch(text.rstrip(b"=")) or len(text) - len(text.rstrip(b"=")) > 2:
        return None
    return binascii.a2b_base64(text)


def _chunks(fd: int) -> Iterator[bytes]:
    """The file read through its descriptor (pread: its offset is left alone)."""
    offset = 0
    while chunk := os.pread(fd, unpack.STEP, offset):
        offset += len(chunk)
        yield chunk


def _first_offset(match) -> int:
    """Where the earliest string of a rule matched; 0 for rules of structure only."""
    offsets = [i.offset for s in match.strings for i in s.instances]
    return min(offsets, default=0)
