"""What the containers of one file share: one budget of inflated bytes for every level
together, and the names they carry, which only the parent can judge.

Inflation is bounded once per file, not once per level: the bytes inflated at all levels
together may not outgrow RATIO times the file's own bytes read so far, plus FLOOR (so a
mostly-zero mask of a few hundred MiB still passes). A gzip inside a gzip inside a tar
costs at most FLOOR of work before a bomb is refused, however they nest. Member names
(tar, zip), each with the validators that admitted that member's bytes, and gzip FNAMEs
go back to the parent, which holds them to the walk's own name rules
(vmguard/quarantine/names.py) and to what a client makes of a name (served.py): the
worker imports nothing of vmguard.
"""

from __future__ import annotations

from collections.abc import Sequence

from .stream import Invalid, Stream

RATIO = 200  # a real gzip of text or data inflates 3-20 times; deflate's maximum is ~1030
FLOOR = 256 << 20
STEP = 1 << 20
MAX_MEMBERS = 10_000  # files and directories in one archive (tar, zip), members of a gzip
MAX_NAMES = 4 << 20  # bytes of member names in one file's answer (10,000 paths of 400 bytes)

# The name a stream is known by, for a gzip's FNAME: (the member name, or None for the
# file's own name; how many ".gz" a gzip around it took off).
KnownAs = tuple[str | None, int]
TOP: KnownAs = (None, 0)


class Inside:
    """One file's containers: the inflation budget and the names they hold."""

    def __init__(self, top: Stream) -> None:
        self.top = top
        self.inflated = 0
        self.archives = 0
        # (archive number, path: a directory's ends in /, the validators of its bytes and of
        # what they hold, as vet lists them: none for a directory or an empty file)
        self.members: list[tuple[int, str, list[str | None]]] = []
        self.names_size = 0
        self.fnames: list[tuple[str | None, int, str]] = []  # (*KnownAs, the FNAME)
        self.not_json: str | None = None  # the JSON rule JSON-shaped text breaks (the first)
        # The escapes of formats a name announces (namedescapes.py) in the text of the
        # file's own name or of what gunzip makes of it: grammar -> "escape near byte N".
        self.named: dict[str, str] = {}
        # The same for the member of a tar or zip being vetted, kept with its name(s) by
        # member(): (archive number, member path, its named escapes).
        self.pending: dict[str, str] = {}
        self.member_named: list[tuple[int, str, dict[str, str]]] = []

    def spend(self, n: int, fmt: str) -> None:
        """Count n inflated bytes; Invalid once all levels together outgrow the bound."""
        self.inflated += n
        if self.inflated > RATIO * self.top.pos + FLOOR:
            raise Invalid(
                f"{fmt}: inflates more than {RATIO} times the file's size (a compression bomb; "
                "counted over every level of nesting together)"
            )

    def archive(self) -> int:
        """A number for the next tar or zip: its members' names are judged together."""
        self.archives += 1
        return self.archives

    def member(self, archive: int, path: str, parts: Sequence[tuple[str, str | None]] = ()) -> None:
        """A member's path and, for a file, the (type, validator) vet gave its bytes."""
        validators = [v for _, v in parts]
        self.names_size += len(path) + sum(len(v or "") for v in validators)
        if len(self.members) >= MAX_MEMBERS or self.names_size > MAX_NAMES:
            raise Invalid(f"more than {MAX_MEMBERS} archive members or {MAX_NAMES} bytes of names in a file")
        self.members.append((archive, path, validators))
        if self.pending and validators:  # a zip member's every name form gets them
            self.member_named.append((archive, path, dict(self.pending)))

    def fname(self, known: KnownAs, fname: str) -> None:
        self.names_size += len(fname)
        if len(self.fnames) >= MAX_MEMBERS or self.names_size > MAX_NAMES:
            raise Invalid(f"gzip: more than {MAX_MEMBERS} FNAMEs, or {MAX_NAMES} bytes of names, in one file")
        self.fnames.append((*known, fname))

    def named_by(self, known: KnownAs) -> dict[str, str]:
        """Where a text known as `known` puts its named escapes: the file's own name's, or
        the member's being vetted (member() keeps them with its name)."""
        return self.named if known[0] is None else self.pending

    def begin_member(self) -> None:
        """A tar or zip member's bytes start: no escapes of the last member are its."""
        self.pending = {}

    def wire(self) -> dict[str, list | str]:
        """The names for the worker's answer (nothing when there are none)."""
        out: dict[str, list] = {}
        if self.members:
            out["members"] = [[a, p, v] for a, p, v in self.members]
        if self.fnames:
            out["fnames"] = [list(f) for f in self.fnames]
        if self.not_json is not None:
            out["not_json"] = self.not_json
        if self.named:
            out["named"] = self.named
        if self.member_named:
            out["member_named"] = [[a, p, n] for a, p, n in self.member_named]
        return out
