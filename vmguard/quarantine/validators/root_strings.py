"""Strings inside a ROOT record's payload, judged as the terminal text they become (session
40, attack o text's rule, terminal.py): uproot's `h.title`, ROOT's `h->Print()` and
`f->ShowStreamerInfo()` print what the object streams, not its key's header (root.py
judges that). Read as ROOT's TBuffer streams them (TBufferFile): each object and base
class behind a byte count (bit 0x40000000 set, the bytes after the count) and a 2-byte
version, TObject as its version, fUniqueID and fBits (and a process id where fBits has
kIsReferenced), a string as ROOT's TString (a length byte, or 255 and 4 bytes big-endian).
Every string lies inside its object's byte count and its record; a record of a class read
here that is not so streamed is refused (ROOT and uproot write every one so).

Reached: the fName and fTitle of every object whose streamed form starts with TNamed
(NAMED: histograms, profiles, graphs, trees, TNamed itself), a TObjString's string, the
top directory's name and title, a histogram's axes' names and titles (TAxis: a TNamed
first), a TTree's branches' and leaves' names and titles (TTree 20, TBranch 13: ROOT 6,
uproot), and in the StreamerInfo record each TStreamerInfo's class name and title and each
of its TStreamerElement's name, title (the member's comment) and type name. Not reached
(docs/quarantine.md): axis bin labels, ROOT 5's branches, a compressed RNTuple header.
The uncompressed RNTuple header a live anchor names is judged by root_rntuple
(_header_strings, with this module's ObjectLayout). The same reading of a tree's branches
gives root_slots their basket arrays (basket_slots)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from . import terminal
from .root_model import FMT
from .stream import Invalid

_COUNT = 0x40000000  # kByteCountMask: a byte count, not a version, comes first
_NEW_CLASS = 0xFFFFFFFF  # kNewClassTag: a class name (a C string) follows
_CLASS_REF = 0x80000000  # kClassMask: a class written before, by its position
_MAP_OFFSET = 2  # kMapOffset: positions in the map are the buffer's (the key's too) plus 2
_REFERENCED = 1 << 4  # TObject::kIsReferenced: fBits is followed by a 2-byte process id
_MAX_CLASS_NAME = 256  # a class tag's C string: ROOT's reader stops at 80
# The classes whose streamed form starts with TNamed, by how many class headers (byte count
# and version) come before TNamed's own: their own and their bases' on the way (TH2F:
# TH2F, TH2, TH1). A histogram's and a profile's last one is TH1's, whose axes follow.
NAMED = {
    b"TNamed": 0,
    b"TGraph": 1,
    b"TGraph2D": 1,
    b"TTree": 1,
    b"TEfficiency": 1,
    b"TGraphErrors": 2,
    b"TGraphAsymmErrors": 2,
    b"TGraphBentErrors": 2,
    b"TGraph2DErrors": 2,
    b"TNtuple": 2,
    b"TNtupleD": 2,
    **{b"TH1" + kind: 2 for kind in (b"C", b"S", b"I", b"L", b"F", b"D", b"K")},
    **{b"TH" + dim + kind: 3 for dim in (b"2", b"3") for kind in (b"C", b"S", b"I", b"L", b"F", b"D")},
    b"TH2Poly": 3,
    b"TProfile": 3,
    b"TProfile2D": 4,
    b"TProfile3D": 4,
    b"TProfile2Poly": 4,
}
_AXES = 3  # a TH1 streams fXaxis, fYaxis, fZaxis after its attributes and fNcells
_TH1_ATTRIBUTES = 3  # TAttLine, TAttFill, TAttMarker: skipped by their byte counts
_LEAST_TH1 = 5  # TH1 versions read here (ROOT 5 and 6 write 5 to 8): before, other fields
_LEAST_ELEMENT = 2  # TStreamerElement versions whose fTypeName follows fMaxIndex
_ELEMENT_INTS = 9  # fType, fSize, fArrayLength, fArrayDim, fMaxIndex[5]
_TREE_VERSION, _BRANCH_VERSION = 20, 13  # the TTree and TBranch layouts read (ROOT 6, uproot)
_TREE_NUMBERS = 116  # fEntries to fEstimate: 5 longs, a double, 5 ints, 6 longs
_CLUSTER_RANGES = 64  # fNClusterRange's place among them
_BRANCH_COUNTS = 24  # fCompress, fBasketSize, fEntryOffsetLen, fWriteBasket, fEntryNumber
_BRANCH_SIZES = 44  # fOffset, fMaxBaskets, fSplitLevel, fEntries, fFirstEntry, fTotBytes, fZipBytes
_MAX_DEPTH = 32  # sub-branches read this deep
# Branch classes by the class headers before TBranch's own (TBranchElement: its own).
_BRANCHES = {b"TBranch": 0, b"TBranchElement": 1, b"TBranchObject": 1, b"TBranchSTL": 1, b"TBranchRef": 1}
STREAMER_INFO = (b"TList", b"StreamerInfo")  # the StreamerInfo record's key: class, name


class ObjectLayout(Invalid):
    """A payload not streamed as this module reads it (a refusal)."""


@dataclass(frozen=True)
class BranchSlots:
    """A branch's basket arrays as streamed (TBranch 13): fWriteBasket, fEntries and
    fMaxBaskets slots each of fBasketBytes, fBasketEntry and fBasketSeek (root_slots
    judges them)."""

    name: bytes
    write: int
    entries: int
    nbytes: tuple[int, ...]
    entry: tuple[int, ...]
    seek: tuple[int, ...]


@dataclass
class Buffer:
    """A payload read as ROOT's TBuffer: `data`, the position `at`, where the enclosing
    object ends (`end`), what the record is (`where`) and its key's length (class
    references count from the key's start)."""

    data: bytes
    at: int
    end: int
    where: str
    keylen: int
    classes: dict[int, bytes] = field(default_factory=dict)  # the record's class map, shared
    slots: list[BranchSlots] | None = None  # a tree's branches' basket arrays, where asked for

    def take(self, size: int) -> bytes:
        if self.at + size > self.end:
            raise ObjectLayout(f"root: {self.where} ends inside a field of its streamed object")
        self.at += size
        return self.data[self.at - size : self.at]

    def number(self, fmt: str) -> int:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def header(self) -> tuple[int, int]:
        """A class header: (where the object ends, its version); its end inside the
        enclosing one."""
        count = self.number(">I")
        if not count & _COUNT:
            raise ObjectLayout(f"root: {self.where} streams an object without its byte count")
        end = self.at + (count & ~_COUNT)
        if end > self.end or count & ~_COUNT < 2:
            raise ObjectLayout(f"root: {self.where} streams an object whose byte count runs past its end")
        return end, self.number(">h")

    def string(self) -> bytes:
        """A TString: a length byte, or 255 and 4 bytes."""
        length = self.number(">B")
        if length == 255:
            length = self.number(">I")
        return self.take(length)

    def tobject(self) -> None:
        """TObject: version, fUniqueID, fBits (and a process id where kIsReferenced)."""
        self.take(2 + 4)
        if self.number(">I") & _REFERENCED:
            self.take(2)

    def within(self, end: int) -> Buffer:
        return Buffer(self.data, self.at, end, self.where, self.keylen, self.classes, self.slots)


def reads(klass: bytes, name: bytes) -> bool:
    """Whether check reads a record of this class and key name."""
    return klass in NAMED or klass == b"TObjString" or (klass, name) == STREAMER_INFO


def check(klass: bytes, names: tuple[bytes, bytes], payload: bytes, key: tuple[int, int],
          whole: bool) -> None:
    """Judge the strings of a record's payload that this module reads, by the record's
    class and its key's name and title; key is the record's (offset, KeyLen). A
    compressed payload comes as its first block inflated (16 MiB - 1 bytes; whole False
    where more follow): a string past it is not reached, and a layout that runs past it is
    not refused (an object that large streams its strings in its first bytes; docs: what
    it leaves)."""
    offset, keylen = key
    buffer = Buffer(payload, 0, len(payload), f"the {klass.decode('latin-1')} in the key at {offset}", keylen)
    try:
        _read(klass, names, buffer)
    except ObjectLayout:
        if whole:
            raise


def _read(klass: bytes, names: tuple[bytes, bytes], buffer: Buffer) -> None:
    if klass in NAMED:
        _named_object(buffer, klass, names[1])
    elif klass == b"TObjString":
        buffer.end = buffer.header()[0]
        buffer.tobject()
        _judge(buffer.string(), "string", buffer)
    elif (klass, names[0]) == STREAMER_INFO:
        _streamer_info(buffer)


def top_directory(payload: bytes, offset: int) -> None:
    """The top directory's record (at fBEGIN; a keys list's key has class TFile too): its
    TNamed's strings (`f->ls()` prints them), then its own fields."""
    buffer = Buffer(payload, 0, len(payload), f"the top directory at {offset}", 0)
    _judge(buffer.string(), "name", buffer)
    _judge(buffer.string(), "title", buffer)


def _judge(text: bytes, what: str, buffer: Buffer) -> None:
    terminal.check(text, f"the {what} of {buffer.where}", FMT)


def _named_object(buffer: Buffer, klass: bytes, title: bytes | None) -> None:
    """Its headers down to TNamed's, its name and title, the title its key's (ROOT's TKey
    and uproot copy the object's title into the key: session 40, attack q root's
    title-differs.root showed CONTROL in `f->ls()` and SIGNAL! on the plot); a
    histogram's axes after them."""
    version = 0
    for _ in range(NAMED[klass]):
        end, version = buffer.header()
        buffer.end = end
    named_end, _, own = _named(buffer, "")
    if title is not None and own != title:
        raise ObjectLayout(f"root: the title of {buffer.where} is not its key's: ROOT and uproot write "
                           "one title in both (a reader listing keys would show another than the plot)")
    buffer.at = named_end
    if klass.startswith((b"TH", b"TProfile")) and version >= _LEAST_TH1:
        _axes(buffer)
    elif klass in (b"TTree", b"TNtuple", b"TNtupleD") and version == _TREE_VERSION:
        _tree(buffer)


def _named(buffer: Buffer, of: str) -> tuple[int, bytes, bytes]:
    """A TNamed (header, TObject, fName, fTitle), its strings judged; where it ends, its
    name and its title."""
    end = buffer.header()[0]
    inner = buffer.within(end)
    inner.tobject()
    name = inner.string()
    _judge(name, f"name{of}", buffer)
    title = inner.string()
    _judge(title, f"title{of}", buffer)
    return end, name, title


def _axes(buffer: Buffer) -> None:
    """TH1 after its TNamed: TAttLine, TAttFill, TAttMarker, fNcells, then three TAxis,
    each a TNamed first (its name, "xaxis", and title)."""
    for _ in range(_TH1_ATTRIBUTES):
        buffer.at = buffer.header()[0]
    buffer.take(4)
    for axis in "xyz":
        end = buffer.header()[0]
        _named(buffer.within(end), f" of its {axis} axis")
        buffer.at = end


def _tree(buffer: Buffer) -> None:
    """TTree version 20 (ROOT 6, uproot) after its TNamed: TAttLine, TAttFill, TAttMarker,
    its numbers (fNClusterRange among them), fClusterRangeEnd and fClusterSize (a flag
    byte and fNClusterRange 8-byte numbers each), fIOFeatures, then fBranches."""
    for _ in range(_TH1_ATTRIBUTES):
        buffer.at = buffer.header()[0]
    ranges = struct.unpack_from(">i", buffer.take(_TREE_NUMBERS), _CLUSTER_RANGES)[0]
    for _ in range(2):
        buffer.take(1 + 8 * max(ranges, 0))
    buffer.at = buffer.header()[0]
    _branches(buffer, 0)


def _branches(buffer: Buffer, depth: int) -> None:
    """A TObjArray of branches streamed in place: each branch's name and title, its
    sub-branches and its leaves' names and titles (TBranch version 13: ROOT 6, uproot)."""
    for klass, branch in _objects(buffer):
        wrapped = _BRANCHES.get(klass)
        if wrapped is None:
            continue
        version = 0
        for _ in range(wrapped + 1):
            branch.end, version = branch.header()
        branch.at, name, _ = _named(branch, " of a branch")
        if version != _BRANCH_VERSION or depth >= _MAX_DEPTH:
            continue
        branch.at = branch.header()[0]  # TAttFill
        write = struct.unpack_from(">i", branch.take(_BRANCH_COUNTS), 12)[0]
        branch.at = branch.header()[0]  # fIOFeatures
        slots, entries = struct.unpack_from(">i4xq", branch.take(_BRANCH_SIZES), 4)
        _branches(branch, depth + 1)
        for leaf_class, leaf in _objects(branch):
            if leaf_class.startswith(b"TLeaf"):
                leaf.end = leaf.header()[0]
                leaf.end = leaf.header()[0]  # TLeaf's
                _named(leaf, " of a leaf")
        if branch.slots is not None:
            _objects(branch)  # fBaskets
            arrays = [_array(branch, fmt, slots) for fmt in ("i", "q", "q")]
            if branch.string():  # fFileName: ROOT would open that file for the baskets
                raise Invalid(f"root: the branch {name!r} of {branch.where} keeps its baskets in "
                              "another file (fFileName): a reader opens the file it names; ROOT "
                              "and uproot write it empty")
            branch.slots.append(BranchSlots(name, write, entries, *arrays))


def _array(buffer: Buffer, fmt: str, count: int) -> tuple[int, ...]:
    """A counted array member (`//[fMaxBaskets]`): a flag byte (1: the array follows),
    then count numbers big-endian."""
    if buffer.number(">B") != 1 or count < 0:
        return ()
    return struct.unpack(f">{count}{fmt}", buffer.take(count * struct.calcsize(fmt)))


def basket_slots(klass: bytes, payload: bytes, key: tuple[int, int]) -> list[BranchSlots]:
    """The basket arrays of a tree's branches (TTree 20, TBranch 13: the layout _tree and
    _branches read), its payload whole; a payload not so streamed raises ObjectLayout."""
    offset, keylen = key
    buffer = Buffer(payload, 0, len(payload), f"the {klass.decode('latin-1')} in the key at {offset}",
                    keylen, slots=[])
    _named_object(buffer, klass, None)
    return buffer.slots or []


def _streamer_info(buffer: Buffer) -> None:
    """The StreamerInfo TList: each object a TStreamerInfo (its class name and title, then
    its elements) or another (a TList of schema rules: skipped by its byte count)."""
    for klass, inner in _list(buffer, options=True):
        if klass == b"TStreamerInfo":
            end = inner.header()[0]
            inner.end = end
            inner.at = _named(inner, " of a TStreamerInfo")[0]
            inner.take(8)  # fCheckSum, fClassVersion
            for element_class, element in _pointer_array(inner):
                if element_class.startswith(b"TStreamer"):
                    _element(element, element_class)


def _element(buffer: Buffer, klass: bytes) -> None:
    """A TStreamerElement's subclass: its header (TStreamerSTLstring's and TStreamerSTL's),
    TStreamerElement's, then its TNamed (the member's name and comment), its numbers and
    fTypeName."""
    for _ in range(2 if klass == b"TStreamerSTLstring" else 1):
        buffer.end = buffer.header()[0]
    end, version = buffer.header()
    buffer.end = end
    buffer.at = _named(buffer, " of a TStreamerElement")[0]
    if version >= _LEAST_ELEMENT:
        buffer.take(4 * _ELEMENT_INTS)
        _judge(buffer.string(), "type name of a TStreamerElement", buffer)


def _list(buffer: Buffer, options: bool) -> list[tuple[bytes, Buffer]]:
    """A TList's objects (class, a buffer at the object): header, TObject, fName, the count,
    each object a pointer followed by its option string."""
    buffer.end = buffer.header()[0]
    buffer.tobject()
    buffer.string()
    out = []
    for _ in range(buffer.number(">i")):
        out.append(_pointer(buffer))
        if options:
            buffer.take(buffer.number(">B"))
    return out


def _pointer_array(buffer: Buffer) -> list[tuple[bytes, Buffer]]:
    """The objects of the TObjArray a pointer points to."""
    klass, inner = _pointer(buffer)
    return _objects(inner) if klass == b"TObjArray" else []


def _objects(buffer: Buffer) -> list[tuple[bytes, Buffer]]:
    """A TObjArray streamed in place (header, TObject, fName, the count, fLowerBound, each
    object a pointer): its objects; the buffer moved past it."""
    end = buffer.header()[0]
    inner = buffer.within(end)
    buffer.at = end
    inner.tobject()
    inner.string()
    count = inner.number(">i")
    inner.take(4)
    return [_pointer(inner) for _ in range(count)]


def _pointer(buffer: Buffer) -> tuple[bytes, Buffer]:
    """An object pointer (TBufferFile::WriteObjectAny): its byte count, its class (a new
    class's name, or a class written before, by position), the object; the buffer moved
    past it. A null pointer, one to an object written before and an unknown class reference
read as b"" (skipped: nothing, or its byte count)."""
    count = buffer.number(">I")
    if not count & _COUNT:  # null (0), or an object written before: its position alone
        return b"", buffer.within(buffer.at)
    end = buffer.at + (count & ~_COUNT)
    if end > buffer.end:
        raise ObjectLayout(f"root: {buffer.where} streams an object whose byte count runs past its end")
    tag_at = buffer.at
    tag = buffer.number(">I")
    if tag == _NEW_CLASS:
        stop = buffer.data.find(b"\0", buffer.at, min(end, buffer.at + _MAX_CLASS_NAME))
        if stop < 0:
            raise ObjectLayout(f"root: {buffer.where} streams a class name that does not end")
        klass = buffer.data[buffer.at : stop]
        buffer.classes[buffer.keylen + tag_at + _MAP_OFFSET] = klass
        buffer.at = stop + 1
    else:
        klass = buffer.classes.get(tag & ~_CLASS_REF, b"") if tag & _CLASS_REF else b""
    inner = buffer.within(end)
    buffer.at = end
    return klass, inner
