"""No key twice in one JSON object (issue #13): RFC 8259 leaves duplicate names to the
reader, and json.loads, jq, JavaScript and Go return the last value: the earlier ones are
bytes no reader returns. No serializer writes a duplicate (a dict, a map or an object
has each key once), so one is refused.

The keys of each open object are held in a set until it closes, at most MAX_KEYS and
MAX_KEY_CHARS at once across the open objects: memory stays bounded however large the
file is. A key is compared as its reader returns it (escapes decoded); its characters
are counted as written between its quotes (an escape as its characters, the quotes not):
what docs/quarantine.md's json row says.
"""

from __future__ import annotations

import json
import re

from .stream import Invalid

MAX_KEYS = 1 << 20  # keys held at once (about 100 MB at most)
MAX_KEY_CHARS = 32 << 20  # characters of those keys, quotes not counted


# A lone surrogate (an escape \ud800-\udfff not in a pair) is U+FFFD to jq and Go, itself
# to json.loads and JavaScript: keys are compared as the former return them, so a key that
# is another's twin to some reader is refused (session 39, attack o content: "\ufffd"
# and "\udfff" are one key to jq, which shows the last value).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _canonical(key: str) -> str:
    """A key token as its reader returns it, spelled one way (rare: only keys with an escape)."""
    if "\\" not in key:
        return key
    return json.dumps(_LONE_SURROGATE.sub("\ufffd", json.loads(key)), ensure_ascii=False)


class ObjectKeys:
    """The keys of the open objects, innermost last (None for an open array)."""

    def __init__(self) -> None:
        self.open: list[set[str] | None] = []
        self.sizes: list[int] = []  # characters of each open object's keys
        self.held = self.chars = 0

    def push(self, bracket: str) -> None:
        self.open.append(set() if bracket == "{" else None)
        self.sizes.append(0)

    def pop(self) -> None:
        keys = self.open.pop()
        self.chars -= self.sizes.pop()
        if keys:
            self.held -= len(keys)

    def add(self, keys: list[str], where: int) -> None:
        """Keys of the innermost object, in order; where: the character of the first."""
        joined = "".join(keys)  # one search and one length in C, not one a key
        if "\\" in joined:
            keys = [_canonical(k) for k in keys]
        seen = self.open[-1]
        again = None if seen.isdisjoint(keys) else next(k for k in keys if k in seen)
        before = len(seen)
        seen.update(keys)
        if again is not None or len(seen) - before != len(keys):
            raise Invalid(
                f"json: the key {(again or _repeated(keys))[:64]!r} twice in one object (near character "
                f"{where}; readers return the last value only: no serializer writes it)"
            )
        size = len(joined) - 2 * len(keys)  # the keys' characters as written, not their quotes
        self.held += len(keys)
        self.chars += size
        self.sizes[-1] += size
        if self.held > MAX_KEYS or self.chars > MAX_KEY_CHARS:
            raise Invalid(
                f"json: objects holding more than {MAX_KEYS >> 20} Mi keys or {MAX_KEY_CHARS >> 20} Mi "
                f"characters of keys open at once (at character {where}; the duplicate key check holds "
                "them): write such a mapping as an array of pairs"
            )


def _repeated(keys: list[str]) -> str:
    """The first key that repeats within keys (only on refusal)."""
    fresh: set[str] = set()
    for key in keys:
        if key in fresh:
            return key
        fresh.add(key)
    return keys[0]
