"""Buffers whose libmagic type is easy to flip, and a runner that types them in order.

The corpus holds what a guest would want typed otherwise: scripts by their `#!` line
(every full-word test of libmagic 5.44's `commands` file, ending the buffer; the
searched ones also followed by a newline, by a letter), markup, executables, the lab's formats, compressed and framed
data, text in other encodings; and the buffers known to leave libmagic's heap dirty
(snappy framing, runs of letters of the lengths libmagic's text pass allocates).

`run_in_order` types a list of buffers one after another in a process of its own
started as the libmagic worker is (its environment, its libmagic calls: magic_types.py
loaded by path), so state left by one buffer reaches the next as in a vet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vmguard.quarantine import detect_process

QUARANTINE = Path(detect_process.__file__).parent

# The interpreters of libmagic 5.44's full-word (`/f`) `#!` tests (Magdir/commands):
# the test reads the byte after the match, past the end of a buffer it ends.
FULL_WORD = (
    (
        "/bin/sh /bin/csh /bin/ksh /bin/tcsh /usr/bin/tcsh /usr/local/tcsh /usr/local/bin/tcsh "
        "/bin/zsh /usr/bin/zsh /usr/local/bin/zsh /usr/bin/env\\ zsh /bin/ash /usr/bin/ash "
        "/usr/local/bin/ash /usr/local/bin/ae /bin/nawk /usr/bin/nawk /usr/local/bin/nawk "
        "/bin/gawk /usr/local/bin/gawk /bin/awk /usr/bin/awk /bin/rc /bin/bash /usr/bin/bash "
        "/usr/local/bash /usr/local/bin/bash /usr/bin/env\\ bash /usr/local/bin/fish "
        "/usr/bin/fish /usr/bin/env\\ fish /usr/bin/tclsh /usr/bin/texlua /usr/bin/luatex "
        "/usr/bin/stap /command/execlineb /bin/execlineb /usr/bin/execlineb "
        "/usr/bin/env\\ execlineb /usr/bin/env\\ runghc /usr/bin/env\\ runhaskell "
        "/usr/bin/env\\ julia"
    )
    .replace("\\ ", "\0")
    .split()
)

SEARCHED = (b"tclsh", b"texlua", b"luatex", b"stap")  # the `search/1/fwt` tests of them

OTHER_SCRIPTS = (
    b"#!/usr/bin/env python3\nprint(1)\n",
    b"#!/usr/bin/python",
    b"#!/usr/bin/perl -w\nprint 1;\n",
    b"#!/usr/bin/env ruby",
    b"#!/usr/bin/env node\nconsole.log(1)\n",
    b"<?php echo 1; ?>",
    b"#!/bin/sh",
    b"#!/bin/bash\n",
    b"@echo off\r\necho hi\r\n",
    b"eval '(exit $?0)' && eval 'exec perl -S $0 ${1+\"$@\"}'",
)

MARKUP = (
    b"<!DOCTYPE html><html><body>x</body></html>",
    b"<html>",
    b"<HTML><HEAD><TITLE>t</TITLE></HEAD></HTML>\n",
    b'<?xml version="1.0"?>\n<a/>\n',
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    b"<svg",
    b"<script>alert(1)</script>",
    b"{\\rtf1\\ansi x}",
    b"%!PS-Adobe-3.0\n",
    b"%PDF-1.4\n",
)

EXECUTABLES = (
    b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(44),
    b"MZ" + bytes(58) + b"\x40\x00\x00\x00PE\x00\x00" + bytes(20),
    b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(24),
    b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(8),
    b"\x00asm\x01\x00\x00\x00",
    b"\x7fELF",
)

LAB = (
    b"\x89HDF\r\n\x1a\n" + bytes(40),
    b"SIMPLE  =                    T" + b" " * 50 + b"BITPIX  =                    8" + b" " * 49,
    b"root\x00\x00\xf4\x4a" + bytes(40),
    b'{"a": [1, 2.5, "x"]}\n',
    b"[1, 2, 3]",
    b"a,b,c\n1,2,3\n4,5,6\n",
    b"a\tb\tc\n1\t2\t3\n",
    b"hello world\n",
    b"\x1f\x8b\x08\x00" + bytes(6) + b"\x03\x00",
    b"PK\x03\x04\x14\x00" + bytes(24),
    b"x" * 100 + bytes(157) + b"ustar\x0000" + bytes(100),
    b"\\documentclass{article}\n\\begin{document}\n",
    b"#include <stdio.h>\nint main(void) { return 0; }\n",
    b"diff --git a/x b/x\n--- a/x\n+++ b/x\n",
)

PACKED = (
    b"\xff\x06\x00\x00sNaPpY",
    b"\xff\x06\x00\x00sNaPpY" + bytes(20),
    b"\xff\x06\x00\x00sNaPpY" + bytes(range(256)),
    b"BZh91AY&SY",
    b"\xfd7zXZ\x00\x00",
    b"\x28\xb5\x2f\xfd",
    b"\x04\x22\x4d\x18",
    b"\x00" * 64,
    bytes(range(256)) * 2,
)


def _encodings() -> list[bytes]:
    out = []
    for text in ("#! /bin/sh", "#!/bin/sh\necho x\n", "<html><body>x</body></html>", "hello"):
        out += [b"\xff\xfe" + text.encode("utf-16-le"), b"\xfe\xff" + text.encode("utf-16-be")]
        out.append(b"\xef\xbb\xbf" + text.encode())
    out.append("#! /bin/sh # é".encode("latin-1"))
    return out


def dirty() -> list[bytes]:
    """Letters one longer than each searched `#!` line: the text pass's copy of them
    (six bytes a character) is a block of the same size, left with a letter just where
    the line's copy ends."""
    lengths = sorted({len("#! /usr/bin/") + len(name) + extra for name in SEARCHED for extra in (1, 2)})
    return [b"a" * n for n in lengths] + [b"abcdefghijklmnopqrstuvwxyz"[:n] for n in lengths]


def corpus() -> list[bytes]:
    lines = [b"#! " + s.encode().replace(b"\0", b" ") for s in FULL_WORD]
    # `search` tests read past the buffer; `string` ones their own zero-padded copy
    scripts = lines + [line + end for line in lines if line.endswith(SEARCHED) for end in (b"\n", b"x")]
    return scripts + list(OTHER_SCRIPTS + MARKUP + EXECUTABLES + LAB + PACKED) + _encodings() + dirty()


RUNNER = """
import importlib.util, json, os, sys
def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(sys.argv[1], name + ".py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
types = load("magic_types").Types(load("magic_index"))
def fresh(data):  # in a child forked before this process typed anything
    read, write = os.pipe()
    if os.fork() == 0:
        os.write(write, types.of(data))
        os._exit(0)
    os.close(write)
    answer = os.read(read, 4096)
    os.close(read)
    os.wait()
    return answer
for line in sys.stdin:
    sequence = [bytes.fromhex(h) for h in json.loads(line)]
    answers = map(fresh, sequence) if sys.argv[2] == "fresh" else map(types.of, sequence)
    print(json.dumps([a.decode("ascii", "replace") for a in answers]), flush=True)
"""


def _run(mode: str, sequences: list[list[bytes]], env: dict[str, str] | None) -> list[list[str]]:
    lines = "".join(json.dumps([b.hex() for b in s]) + "\n" for s in sequences)
    done = subprocess.run(
        [sys.executable, "-I", "-c", RUNNER, str(QUARANTINE), mode],
        input=lines,
        capture_output=True,
        text=True,
        env=dict(detect_process.WORKER_ENV if env is None else env),
        cwd="/",
        check=True,
        timeout=600,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def run_in_order(sequences: list[list[bytes]], env: dict[str, str] | None = None) -> list[list[str]]:
    """Each sequence typed in order by one process started as a libmagic worker is (its
    environment by default; all sequences one after another): every buffer's answer."""
    return _run("in-order", sequences, env)


def fresh(buffers: list[bytes], env: dict[str, str] | None = None) -> list[str]:
    """Each buffer typed first: by a child forked from a worker-like process that has
    loaded libmagic and typed nothing."""
    return _run("fresh", [buffers], env)[0]
