"""A worker's answer for one file (detect.py), parsed once per distinct answer."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Answer:
    """What a worker found: the file's type, the (type, validator) of the file and of
    each file inside it (validator None: none exists for that type), and the rule the
    bytes break as (reason code, detail), if any."""

    mime: str
    parts: tuple[tuple[str, str | None], ...]
    problem: tuple[str, str] | None = None
    # Names inside: (archive number, member path: a directory's ends in /, the validators
    # of the member's bytes and of what they hold: none for a directory or an empty
    # file), and gzip FNAMEs as (member name or None for the file's own, gzip layers
    # around this one within it, FNAME).
    members: tuple[tuple[int, str, tuple[str | None, ...]], ...] = ()
    fnames: tuple[tuple[str | None, int, str], ...] = ()
    # Why bytes that start like JSON were taken as text (the JSON rule they break), if so.
    not_json: str | None = None
    # The escapes of formats a name announces in its text (grammar, "escape near byte N"):
    # validators/namedescapes.py, judged with the name (served.escape_reasons).
    named: tuple[tuple[str, str], ...] = ()
    # The same for members of a tar or zip: (archive number, member path, its finds).
    member_named: tuple[tuple[int, str, tuple[tuple[str, str], ...]], ...] = ()

    @classmethod
    def decode(cls, data: bytes) -> Answer | None:
        """Most answers of a job are the same few bytes: each is parsed once."""
        if (known := _DECODED.get(data, _UNSEEN)) is not _UNSEEN:
            return known
        try:
            d = json.loads(data)
            parts = tuple((str(m), None if v is None else str(v)) for m, v in d["parts"])
            problem = None if d["problem"] is None else (str(d["problem"][0]), str(d["problem"][1]))
            members = tuple((int(a), str(p), _validators(v)) for a, p, v in d.get("members", ()))
            fnames = tuple((None if k is None else str(k), int(n), str(f)) for k, n, f in d.get("fnames", ()))
            not_json = None if d.get("not_json") is None else str(d["not_json"])
            named = tuple((str(g), str(e)) for g, e in d.get("named", {}).items())
            member_named = tuple((int(a), str(p), tuple((str(g), str(e)) for g, e in n.items()))
                                 for a, p, n in d.get("member_named", ()))
            answer = cls(str(d["mime"]), parts, problem, members, fnames, not_json, named, member_named)
        except (ValueError, KeyError, TypeError, IndexError):
            answer = None
        if answer is not None and (answer.members or answer.fnames or answer.not_json or answer.named):
            return answer  # one file's names: not kept
        if len(_DECODED) >= DECODED_MAX:
            _DECODED.clear()
        _DECODED[data] = answer
        return answer


def _validators(names: list) -> tuple[str | None, ...]:
    return tuple(None if v is None else str(v) for v in names)


DECODED_MAX = 1024  # distinct answers kept parsed (each a few hundred bytes)
_DECODED: dict[bytes, Answer | None] = {}
_UNSEEN = object()
