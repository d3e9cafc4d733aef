"""Which bytes of a null message are a piece of a header's messages: the longest piece
of them ending at each byte, in time linear in their size and the null's.

nullpieces.py covers a null message with pieces of the header's messages (and of its dense
links and attributes). Matching each byte against every place its value occurs costs
the null's size times the sources' for float attributes (every double holds 0x3f): a
suffix automaton of the sources (one per header) gives, for each end, the longest
piece ending there, and a piece is any shorter one ending there too."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Automaton:
    """The suffix automaton of some byte strings, each its own (a piece never spans two)."""

    moves: tuple[dict[int, int], ...]
    links: tuple[int, ...]
    lengths: tuple[int, ...]


def automaton(sources: tuple[bytes, ...]) -> Automaton:
    """The automaton of the sources, separated by symbols no byte equals (256 + k)."""
    moves: list[dict[int, int]] = [{}]
    links, lengths, last = [-1], [0], 0
    for k, source in enumerate(sources):
        for symbol in (*source, 256 + k):
            last = _extend(moves, links, lengths, last, symbol)
    return Automaton(tuple(moves), tuple(links), tuple(lengths))


def _extend(moves: list[dict[int, int]], links: list[int], lengths: list[int], last: int, symbol: int) -> int:
    """The textbook step: the state of the text so far with `symbol` appended."""
    cur = len(moves)
    moves.append({})
    lengths.append(lengths[last] + 1)
    links.append(0)
    p = last
    while p != -1 and symbol not in moves[p]:
        moves[p][symbol] = cur
        p = links[p]
    if p == -1:
        return cur
    q = moves[p][symbol]
    if lengths[p] + 1 == lengths[q]:
        links[cur] = q
        return cur
    clone = len(moves)
    moves.append(dict(moves[q]))
    lengths.append(lengths[p] + 1)
    links.append(links[q])
    while p != -1 and moves[p].get(symbol) == q:
        moves[p][symbol] = clone
        p = links[p]
    links[q] = links[cur] = clone
    return cur


def longest(data: bytes, a: Automaton) -> list[int]:
    """out[j]: the length of the longest piece of a source that data[:j] ends with."""
    out = [0] * (len(data) + 1)
    state, length = 0, 0
    for j, byte in enumerate(data):
        while state and byte not in a.moves[state]:
            state = a.links[state]
            length = a.lengths[state]
        if byte in a.moves[state]:
            state, length = a.moves[state][byte], length + 1
        else:
            state, length = 0, 0
        out[j + 1] = length
    return out
