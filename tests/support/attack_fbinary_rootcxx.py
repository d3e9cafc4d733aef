"""ROOT-written files (the pinned C++ corpus, tests/support/root_cxx_corpus.py) patched
where the docs relax the pins for ROOT's own output: the I/O bits form of a basket key
(ROOT 6.12+: version 3, fNevBufSize negated, fIOBits, flag 0 or 80)."""

from __future__ import annotations

from tests.support import root_cxx_corpus
from tests.support.attack_dcontent_root import _put

# small-dy-nooffsets.root (ROOT 6.12): a basket of fixed-size entries at 424 (key 72
# bytes, flag 0) and one of variable-size entries at 864 (key 77 bytes, flag 80: the
# reader regenerates the offsets). The key's last 20 bytes: version, fBufferSize,
# -fNevBufSize, fIOBits, fNevBuf, fLast, flag.
FILE = "small-dy-nooffsets.root"
FIXED, FIXED_KEY, VARIABLE, VARIABLE_KEY = 424, 72, 864, 77

HOSTILE_NAMES = (
    "rootcxx-iobits-not-1.root", "rootcxx-fixed-basket-flag-80.root",
    "rootcxx-variable-basket-flag-0.root",
)


def hostile() -> dict[str, bytes]:
    d = root_cxx_corpus.files()[FILE].read_bytes()
    assert d[FIXED + FIXED_KEY - 10] == 1 and d[VARIABLE + VARIABLE_KEY - 1] == 0x50
    return {
        # fIOBits 'P' (80) instead of kGenerateOffsetMap: 7 more bits a basket if admitted
        "rootcxx-iobits-not-1.root": _put(d, FIXED + FIXED_KEY - 10, b"P"),
        # flag 80 on fixed-size entries, where 0 and 80 both leave nothing after them
        "rootcxx-fixed-basket-flag-80.root": _put(d, FIXED + FIXED_KEY - 1, b"\x50"),
        # flag 0 (offsets follow) on a basket whose payload holds no offsets
        "rootcxx-variable-basket-flag-0.root": _put(d, VARIABLE + VARIABLE_KEY - 1, b"\x00"),
    }
