"""Every bit of an HDF5 element (issue #13, "vet to the last byte"): the padding bits of
integers, bitfields and floats hold what libhdf5 writes there (its pad flags; never the
sign), a NULLTERM string holds NULs after its terminating NUL, a variable-length string
holds no NUL, v1 datatype member names and opaque tags are padded with zeros, enumerated
class bits name a value (references: test_hdf5_refs.py). Each rule: files h5py writes pass
(the controls), one byte changed where no reader looks is refused naming the rule."""

from __future__ import annotations

import io

import pytest

from tests.quarantine.test_hdf5_compound import _h5
from tests.quarantine.test_hdf5_walk import _refusal
from vmguard.quarantine.validators.hdf5 import elements
from vmguard.quarantine.validators.stream import Invalid

np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")
h5t, h5d, h5s = h5py.h5t, h5py.h5d, h5py.h5s

BITS = "the padding bits of a 4-byte integer (precision 24 at bit 0) of /d hold data"
NULLTERM = "a NULLTERM string of /s holds bytes after its terminating NUL"


def _offset(data: bytes, name: str) -> int:
    with h5py.File(io.BytesIO(data), "r") as f:
        return f[name].id.get_offset()


def _changed(data: bytes, at: int, value: int) -> bytes:
    out = bytearray(data)
    out[at] = value
    return bytes(out)


def _int24(base=None, offset: int = 0, pad: bool = False):
    t = (base or h5t.STD_I32LE).copy()
    t.set_precision(24)
    t.set_offset(offset)
    if pad:
        t.set_pad(h5t.PAD_ONE, h5t.PAD_ONE)
    return t


def _dataset(t, values, name: bytes = b"d", dcpl=None):
    def build(f):
        d = h5d.create(f.id, name, t, h5s.create_simple((len(values),)), dcpl=dcpl)
        d.write(h5s.ALL, h5s.ALL, np.asarray(values, dtype="<i4"))

    return build


# ------------------------------------------------------------------ padding bits


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_integers_of_reduced_precision_pass_with_the_padding_libhdf5_writes(libver):
    """Signed values: libhdf5 writes the top byte zero (no sign extension); pad bits set to
    one: ones; big-endian at a bit offset: the same bits, bytes reversed."""
    values = [-5, 3, -1, 2**23 - 1]
    for t in (_int24(), _int24(pad=True), _int24(h5t.STD_I32BE, offset=4)):
        data = _h5(_dataset(t, values), libver=libver)
        assert _refusal(data) == ""
        with h5py.File(io.BytesIO(data), "r") as f:
            assert list(f["d"][()]) == values  # what a reader returns: the precision's bits


def test_the_top_byte_of_a_24_bit_integer_is_refused_naming_the_rule():
    data = _h5(_dataset(_int24(), [-5, 3, -1, 7]))
    at = _offset(data, "d")
    assert data[at + 3] == 0  # -5: fb ff ff 00, not sign-extended
    assert BITS in _refusal(_changed(data, at + 3, 0xFF))
    assert BITS in _refusal(_changed(data, at + 4 * 3 + 3, 0x01))  # the last element, one bit


def test_padding_bits_set_to_one_must_be_ones():
    t = h5t.STD_U32LE.copy()
    t.set_precision(20)
    t.set_offset(4)
    t.set_pad(h5t.PAD_ONE, h5t.PAD_ONE)
    data = _h5(_dataset(t, [1, 2, 3]))
    at = _offset(data, "d")
    assert data[at : at + 4] == bytes.fromhex("1f0000ff")
    assert "padding bits of a 4-byte integer (precision 20 at bit 4)" in _refusal(_changed(data, at, 0x10))
    assert "padding bits" in _refusal(_changed(data, at + 3, 0xFE))


def test_padding_bits_in_chunks_attributes_compounds_and_fill_values():
    """Wherever an element lies: a deflated and shuffled chunk, an attribute, a compound
    member, an array member, the fill value."""
    t = _int24()
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((4,))
    dcpl.set_shuffle()
    dcpl.set_deflate(1)
    dcpl.set_fill_value(np.array(-2, dtype="<i4"))
    assert _refusal(_h5(_dataset(t, list(range(-5, 5)), dcpl=dcpl))) == ""
    stored = _int24().copy()  # the fill value as stored: -2 in 24 bits, then a byte of data
    dcpl2 = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl2.set_fill_value(np.array(-2, dtype="<i4"))
    data = _h5(_dataset(stored, [1, 2], dcpl=dcpl2))
    assert _refusal(data) == ""
    # the fill value message's value, and its copy in the old fill value message libhdf5
    # writes beside it under the default libver: both changed, so they still agree
    for at in [i for i in range(len(data)) if data.startswith(b"\xfe\xff\xff\x00", i)]:
        data = _changed(data, at + 3, 0x41)
    assert "of the fill value of /d hold data" in _refusal(data)

    row = h5t.create(h5t.COMPOUND, 12)
    row.insert(b"a", 0, h5t.STD_I32LE)
    row.insert(b"b", 4, h5t.array_create(_int24(), (2,)))

    def table(f):
        d = h5d.create(f.id, b"t", row, h5s.create_simple((2,)))
        mem = np.dtype([("a", "<i4"), ("b", "<i4", (2,))])
        d.write(h5s.ALL, h5s.ALL, np.array([(1, (-1, 2)), (3, (4, -5))], dtype=mem))
        a = h5py.h5a.create(f.id, b"x", _int24(), h5s.create_simple((2,)))
        a.write(np.array([-7, 7], dtype="<i4"))

    data = _h5(table)
    assert _refusal(data) == ""
    at = _offset(data, "t")
    assert "padding bits of a 4-byte integer (precision 24 at bit 0) of /t" in _refusal(
        _changed(data, at + 12 + 4 + 4 + 3, 0x50)  # row 2, b[1]'s top byte
    )
    attr = data.index(b"\xf9\xff\xff\x00\x07\x00\x00\x00")
    assert "of / hold data" in _refusal(_changed(data, attr + 3, 0x50))


def test_standard_floats_pass_and_the_spare_bytes_of_a_long_double_are_checked():
    """f2/f4/f8 use every bit. numpy's long double (x87: 80 bits in 16 bytes) leaves six
    bytes as memory held them (even in np.zeros after an assignment), and h5py writes them
    as they are: refused naming the remedy; zeroed afterwards they pass."""

    def floats(f):
        for kind in ("<f2", "<f4", "<f8"):
            f.create_dataset(kind[1:], data=np.linspace(-3, 3, 7).astype(kind))

    assert _refusal(_h5(floats)) == ""
    if np.dtype(np.longdouble).itemsize != 16 or np.finfo(np.longdouble).nmant != 63:
        pytest.skip("no x87 long double here")
    values = np.zeros(3, dtype=np.longdouble)
    values[:] = [1.5, -2, 3]
    values.view(np.uint8).reshape(3, 16)[:, 10:] = 0xAB  # as memory may hold them
    refused = _refusal(_h5(lambda f: f.create_dataset("x", data=values)))
    assert "padding bits of a 16-byte float (precision 80 at bit 0)" in refused
    assert "store float64" in refused
    values.view(np.uint8).reshape(3, 16)[:, 10:] = 0
    assert _refusal(_h5(lambda f: f.create_dataset("x", data=values))) == ""


def test_a_float_of_24_bits_in_4_bytes_is_refused_as_non_ieee():
    """Sign 23, exponent 7 bits at 16, mantissa 16 bits: libhdf5 converts f4 into it and
    a reader gets the floats back, but its layout (and bias) is the writer's choice, read
    by no reader: only libhdf5's IEEE layouts pass (floats.py; test_hdf5_types.py)."""
    t = h5t.IEEE_F32LE.copy()
    t.set_fields(23, 16, 7, 0, 16)
    t.set_precision(24)
    t.set_ebias(63)

    def build(f):
        d = h5d.create(f.id, b"x", t, h5s.create_simple((3,)))
        d.write(h5s.ALL, h5s.ALL, np.array([1.5, -2.25, 3.0], dtype="<f4"))

    data = _h5(build)
    with h5py.File(io.BytesIO(data), "r") as f:
        assert list(f["x"][()]) == [1.5, -2.25, 3.0]
    assert "not supported: non-IEEE float (4 bytes, sign at bit 23" in _refusal(data)


# ------------------------------------------------------------------ strings


def _strings(pad, values, size: int = 8):
    def build(f):
        st = h5t.C_S1.copy()
        st.set_size(size)
        st.set_strpad(pad)
        d = h5d.create(f.id, b"s", st, h5s.create_simple((len(values),)))
        d.write(h5s.ALL, h5s.ALL, np.array(values, dtype=f"S{size}"))

    return build


def test_nullterm_strings_hold_nuls_after_their_nul():
    data = _h5(_strings(h5t.STR_NULLTERM, [b"ab", b"a\0b", b"12345678"]))
    at = _offset(data, "s")
    assert data[at : at + 24] == b"ab" + bytes(6) + b"a" + bytes(7) + b"1234567\0"  # libhdf5's
    assert _refusal(data) == ""
    assert NULLTERM in _refusal(_changed(data, at + 5, ord("P")))
    assert NULLTERM in _refusal(_changed(data, at + 8 + 7, ord("P")))  # the last byte of one
    assert _refusal(_changed(data, at + 16 + 7, ord("8"))) == ""  # no NUL at all: all of it is read


def test_nullpad_and_spacepad_strings_are_returned_whole():
    """h5py returns a NULLPAD or SPACEPAD string's bytes past a NUL: data, not hidden."""
    for pad in (h5t.STR_NULLPAD, h5t.STR_SPACEPAD):
        data = _h5(_strings(pad, [b"ab", b"a\0b"]))
        assert _refusal(data) == ""
        changed = _changed(data, _offset(data, "s") + 3, ord("P"))
        assert _refusal(changed) == ""
        with h5py.File(io.BytesIO(changed), "r") as f:
            assert b"P" in f["s"][0]


def test_a_nullterm_string_larger_than_a_window_is_checked_across_windows():
    """A 2 MiB string (checked 1 MiB at a time): a NUL at the window's last byte followed
    by data in the next window."""
    size = 2 << 20
    data = _h5(_strings(h5t.STR_NULLTERM, [b"x" * 100], size=size))
    assert _refusal(data) == ""
    at = _offset(data, "s")
    crossing = bytearray(data)
    crossing[at : at + (1 << 20) + 1] = b"y" * ((1 << 20) - 1) + b"\0" + b"P"
    assert NULLTERM in _refusal(bytes(crossing))
    crossing[at + (1 << 20)] = 0
    assert _refusal(bytes(crossing)) == ""


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_a_variable_length_string_holds_no_nul(libver):
    data = _h5(
        lambda f: f.create_dataset("v", data=["abcPWND", "", "é"], dtype=h5py.string_dtype()), libver=libver
    )
    assert _refusal(data) == ""
    at = data.index(b"abcPWND")
    assert "a variable-length string of /v (object " in _refusal(_changed(data, at + 3, 0))


def test_variable_length_sequences_of_reduced_precision_integers_are_checked_in_the_heap():
    """h5py writes int32 sequences; the base type made 24 bits of precision (as another
    writer would declare it): the items in the heap objects are elements too."""
    rows = np.empty(2, dtype=object)
    rows[0], rows[1] = np.array([1, 2, 3], dtype="<i4"), np.array([4], dtype="<i4")
    data = bytearray(_h5(lambda f: f.create_dataset("d", data=rows, dtype=h5py.vlen_dtype("<i4"))))
    int32 = bytes.fromhex("1008000004000000 00002000")  # class 0 v1, signed, 4 bytes, 32 bits
    at = data.index(int32)
    data[at + 10] = 24
    assert _refusal(bytes(data)) == ""
    item = data.index(b"GCOL") + 32  # object 1's first item
    assert data[item : item + 4] == b"\1\0\0\0"
    assert "padding bits of a 4-byte integer (precision 24 at bit 0) of /d (object 1 of" in _refusal(
        _changed(bytes(data), item + 3, 0x50)
    )


# ------------------------------------------------------------------ v1 member names


@pytest.mark.parametrize("kind", ["compound", "enum"])
def test_the_padding_of_v1_member_names_is_zeros(kind):
    if kind == "compound":
        dtype, name = np.dtype([("rnx", "<i4"), ("y", "<f8")]), b"rnx\0"
    else:
        dtype, name = h5py.enum_dtype({"RDX": 1, "B": 2}, basetype="i1"), b"RDX\0"
    data = _h5(lambda f: f.create_dataset("d", data=np.zeros(3, dtype=dtype)))
    assert _refusal(data) == ""
    at = data.index(name)
    assert data[at + 4 : at + 8] == bytes(4)
    assert "the padding after a member name in the datatype of /d holds data" in _refusal(
        _changed(data, at + 5, ord("P"))
    )


def test_the_reserved_dimension_fields_of_a_v1_compound_member_are_zeros():
    data = _h5(lambda f: f.create_dataset("d", data=np.zeros(3, dtype=[("rnx", "<i4")])))
    at = data.index(b"rnx\0") + 8 + 4  # after the name: offset (4), then dimensions (28)
    assert _refusal(data) == "" and data[at : at + 28] == bytes(28)
    assert "the dimension fields of a version 1 compound member of /d hold data" in _refusal(
        _changed(data, at + 9, 0x50)
    )


# ------------------------------------------------------------------ datatype fields


def test_the_tag_of_an_opaque_datatype_is_nul_padded_to_8():
    """h5py's opaque datetime64: tag "NUMPY:<M8[s]" (12 characters), 4 NULs to 16."""
    data = _h5(lambda f: f.create_dataset("o", data=np.zeros(3, dtype=h5py.opaque_dtype(np.dtype("M8[s]")))))
    assert _refusal(data) == ""
    at = data.index(b"NUMPY:<M8[s]")
    assert data[at - 7] == 16 and data[at + 12 : at + 16] == bytes(4)  # the tag's length: class bits
    assert "the tag of an opaque datatype of /o" in _refusal(_changed(data, at + 14, ord("P")))


def test_class_bits_that_name_one_of_a_few_values_name_one():
    """A string's padding type (0-2) and character set (0-1); a variable-length
    sequence's padding and character set bits (zero: they are a string's)."""
    data = _h5(_strings(h5t.STR_NULLTERM, [b"ab"]))
    at = data.index(bytes.fromhex("1300000008000000"))  # v1 string, NULLTERM ASCII, 8 bytes
    for bits in (0x03, 0x0F, 0x20):
        assert "the class bits of a datatype of /s" in _refusal(_changed(data, at + 1, bits))
    assert _refusal(_changed(data, at + 1, 0x11)) == ""  # NULLPAD UTF-8: a value libhdf5 writes
    rows = np.empty(1, dtype=object)
    rows[0] = np.arange(3, dtype="<i4")
    data = _h5(lambda f: f.create_dataset("v", data=rows, dtype=h5py.vlen_dtype("<i4")))
    at = data.index(bytes.fromhex("1900000010000000"))  # v1 variable-length sequence, 16 bytes
    assert _refusal(data) == ""
    assert "the class bits of a datatype of /v (0x0010) name a padding" in _refusal(_changed(data, at + 1, 0x10))


def test_the_reserved_bytes_and_permutation_of_a_v2_array_datatype_are_pinned():
    """h5py's (3, 2) array member: rank, 3 reserved zeros, dimensions, permutation 0, 1."""
    data = _h5(lambda f: f.create_dataset("a", data=np.zeros(2, dtype=[("x", "<f4", (3, 2))])))
    assert _refusal(data) == ""
    at = data.index(
        bytes.fromhex("2a0000001800000002000000") + bytes.fromhex("03000000020000000000000001000000")
    )
    for offset, value in ((9, 1), (11, 0x80), (20, 1), (24, 0)):  # reserved, reserved, permutation 1, 0
        assert "the reserved bytes or permutation of an array datatype of /a" in _refusal(
            _changed(data, at + offset, value)
        )


def test_the_base_type_of_a_variable_length_string_is_libhdf5s_unsigned_char():
    data = _h5(lambda f: f.create_dataset("v", data=["ab"], dtype=h5py.string_dtype()))
    at = data.index(bytes.fromhex("1901010010000000" + "100000000100000000000800"))
    assert _refusal(data) == ""
    for offset, value in ((8 + 1, 0x08), (8 + 10, 7), (8 + 1, 0x02)):  # signed, precision 7, low pad ones
        assert "the base type of a variable-length string of /v" in _refusal(
            _changed(data, at + offset, value)
        )


def test_an_enum_is_the_size_of_its_base_type():
    data = _h5(
        lambda f: f.create_dataset("d", data=np.zeros(3, dtype=h5py.enum_dtype({"A": 1}, basetype="<i4")))
    )
    at = data.index(bytes.fromhex("1801000004000000" + "100800000400000000002000"))  # enum: 1 member, 4 bytes
    assert _refusal(data) == ""
    assert "an enum datatype of /d is 8 bytes, its base type 4" in _refusal(_changed(data, at + 4, 8))


def test_every_byte_of_the_data_is_refused_exactly_where_it_is_pinned():
    """Each byte of a 24-bit integer dataset and of a NULLTERM string dataset set in turn:
    refused exactly where no reader looks (an integer's top byte; a string byte after a
    NUL), accepted where a reader returns it (the control: data stays data)."""
    ints = _h5(_dataset(_int24(), [-5, 3, -1, 7]))
    at = _offset(ints, "d")
    for i in range(16):
        refused = _refusal(_changed(ints, at + i, 0x5A))
        assert bool(refused) == (i % 4 == 3), (i, refused)
    words = [b"ab", b"", b"abcdefg"]
    strs = _h5(_strings(h5t.STR_NULLTERM, words))
    at = _offset(strs, "s")
    for i in range(24):
        element = i // 8
        after_nul = b"\0" in strs[at + 8 * element : at + i]
        assert bool(_refusal(_changed(strs, at + i, 0x5A))) == after_nul, i


def test_an_array_of_many_pinned_items_is_one_rule_and_bounded():
    """An array datatype of 10 million 3-bit bitfields: its mask is built once (10 MB), one
    rule names its bits (not 10 million); beyond MAX_PINNED it is refused before it is built."""
    item = elements.Element(size=1, mask=b"\xf8", want=b"\0", rules=((0, 1, "the padding bits"),))
    many = elements._repeated(item, 10_000_000, "/d")
    assert len(many.rules) == 1 and len(many.mask) == 10_000_000
    assert many.rule(9_999_999) == "the padding bits"
    with pytest.raises(Invalid, match="larger than 64 MiB"):
        elements._repeated(item, elements.MAX_PINNED + 1, "/d")
