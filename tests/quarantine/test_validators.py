"""The whole-file validators on their own (no worker): every rule at the byte it is
broken, whatever the chunk boundaries, and the good case beside each bad one."""

from __future__ import annotations

import gzip

import pytest

from vmguard.quarantine import validators
from vmguard.quarantine.validators import Invalid, Stream, jsonfmt


def chunked(data: bytes, size: int) -> Stream:
    return Stream(iter([data[i : i + size] for i in range(0, len(data), size)]))


def vet(data: bytes, mime: str, size: int = 4096) -> list:
    return validators.vet(chunked(data, size), lambda head: mime)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 4096])
def test_text_in_any_chunking_is_judged_by_characters_not_chunks(size):
    text = "Zürich µ → 日本 ✓\r\n\tend\v\n" * 50
    assert vet(text.encode(), "text/plain", size) == [("text/plain", "text")]
    assert vet(text.encode("utf-16"), "text/plain", size) == [("text/plain", "text:utf-16")]
    with pytest.raises(Invalid, match="byte 3 is not valid utf-8"):
        vet(b"abc\xe2\x82", "text/plain", size)  # a character cut off by the end
    with pytest.raises(Invalid, match="U\\+0085"):
        vet("next line\u0085".encode(), "text/plain", size)  # C1 control
    with pytest.raises(Invalid, match="FF \\(form feed, U\\+000C\\) near byte 4"):
        vet(b"page\f2\n", "text/plain", size)  # PuTTY clears the screen


@pytest.mark.parametrize("size", [1, 3, 4096])
def test_text_names_the_one_encoding_all_of_it_is_valid_in(size):
    latin = "caf\xe9 \xb5s \xd7 2\n".encode("latin-1") * 100
    assert vet(latin, "text/plain", size) == [("text/plain", "text:latin-1")]
    utf8_then_latin = "µs ok\n".encode() * 100 + latin  # C2 B5 is Latin-1 too: all of it is
    assert vet(utf8_then_latin, "text/plain", size) == [("text/plain", "text:latin-1")]
    with pytest.raises(Invalid, match="byte 703 is not valid utf-8"):  # \x86 is a C1 control in Latin-1
        vet("→ ok\n".encode() * 100 + latin, "text/plain", size)
    with pytest.raises(Invalid, match="control character U\\+0085"):  # the NEL byte, in Latin-1
        vet(latin + b"x\x85y\n", "text/plain", size)
    with pytest.raises(Invalid, match="NUL"):
        vet(latin + b"\0", "text/plain", size)
    with pytest.raises(Invalid, match="markup"):
        vet(latin + b"<scr" + b"ipt>", "text/plain", size)
    assert validators.encoding_of("text:latin-1") == "latin-1" and validators.encoding_of("text") == "utf-8"
    assert validators.encoding_of("json") is None and validators.encoding_of(None) is None


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": 1} {"b": 2}', "extra data after the value \\(at character 9\\)"),
        (b'{"a": -Infinity}', "-Infinity is not JSON"),
        (b'{"a": 1,}', "unexpected '}'"),
        (b"[1 2]", "a value where none may be"),
        (b"{1: 2}", "an object key is not a string"),
        (b'["a\tb"]', "not a JSON token"),  # a raw TAB in a string
        (b"[01]", "a value where none may be"),
        (b"[1.]", "not a JSON token"),
        (b'{"a": [1, 2}', "unexpected '}'"),
        (b'{"a": tru}', "not a JSON token"),
        (b"[1, 2", "ends inside the value"),
        (b'\xef\xbb\xbf{"a": 1}', "not one strict JSON value"),
        (b'{"a": "\xff"}', "byte 7 is not valid UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ],
)
def test_json_is_strict(data, rule):
    assert vet(b'{"a": [1, 2.5, "x", null, true]}', "application/json") == [("application/json", "json")]
    with pytest.raises(Invalid, match=rule):
        jsonfmt.validate(chunked(data, 4096))


def test_what_libmagic_calls_json_but_is_not_is_judged_as_text():
    """libmagic's application/json is a guess from the head: what is not JSON as a serializer
    writes it is text (a hand-written config, echo's list), or refused by the text rules."""
    for data in (b'{"a": NaN}', b'{ "run": 42 }\n', b"[1,2, 3]\n", b'{\n  "a": 1\n}\n\n', b"[" * 50_000):
        assert vet(data, "application/json", 7) == [("text/plain", "text")], data
    with pytest.raises(Invalid, match="json: "):  # neither: the error of what libmagic said
        vet(b'{"a": "\x1b[2J"}', "application/json")


@pytest.mark.parametrize("size", [1, 2, 5, 4096])
def test_json_streams_whatever_the_chunking(size):
    doc = (
        b'{"run": 42, "cuts": [1, -2.5e-03, 0, 1e+21, "x\\"y\xc3\xa9", true, false, null],'
        b' "nested": [[], {}, [{"a": {"b": [10.25]}}]], "s\xc2\xb5": "\xe2\x86\x92"}\n'
    )
    assert vet(doc, "application/json", size) == [("application/json", "json")]
    for broken, rule in (
        (doc[:-2], "ends inside the value"),
        (doc + b"1", "extra data"),
        (doc.replace(b"10.25", b"10.2.5"), "not a JSON token"),
        (doc.replace(b"-2.5e-03", b"-2.5e"), "not a JSON token"),
    ):
        with pytest.raises(Invalid, match=rule):
            jsonfmt.validate(chunked(broken, size))
        assert vet(broken, "application/json", size) == [("text/plain", "text")]  # text, as any


def test_json_of_any_size_is_judged_as_json_in_bounded_memory(monkeypatch):
    """Beyond the 16 MiB json.loads once took (then it fell back to text)."""
    big = b'{"rows": [' + b'1.5, -2, "ok", null, ' * 1_000_000 + b"[0]], " + b'"end": {}}'  # 20 MiB
    assert vet(big, "application/json", 1 << 20) == [("application/json", "json")]
    assert vet(big, "text/plain", 1 << 20) == [("application/json", "json")]  # libmagic's guess
    with pytest.raises(Invalid, match="json: not one strict JSON value"):
        vet(big[:-1] + b"\x00", "application/json", 1 << 20)
    monkeypatch.setattr(jsonfmt, "MAX_TOKEN", 1000)
    with pytest.raises(Invalid, match="a token longer than"):
        jsonfmt.validate(chunked(b'["' + b"x" * 5000 + b'"]', 100))
    # Text that only starts like JSON is text, judged on the same pass.
    assert vet(b"[" + b"1," * 60 + b"\n", "text/plain", 7) == [("text/plain", "text")]
    with pytest.raises(Invalid, match="NUL"):
        vet(b"[" + b"1," * 60 + b"\0", "text/plain", 7)


def test_json_agrees_with_the_standard_librarys_strict_parse():
    """Differential: random documents, randomly broken, whatever the chunking."""
    import json
    import random

    rng = random.Random(13)

    def gen(depth: int = 0) -> object:
        if depth > 4 or rng.random() < 0.4:
            return rng.choice([0, -2.5, 1e9, "x", 'é"\\', True, None, 2**70, ""])
        if rng.random() < 0.5:
            return [gen(depth + 1) for _ in range(rng.randint(0, 5))]
        return {f"k{i}": gen(depth + 1) for i in range(rng.randint(0, 4))}

    def strict(doc: bytes) -> bool:
        try:
            json.loads(doc.decode(), parse_constant=int)  # NaN, Infinity: int() refuses them
            return True
        except (ValueError, UnicodeDecodeError):
            return False

    for _ in range(400):
        doc = json.dumps(gen(), ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1])).encode()
        for _ in range(rng.randint(0, 2)):
            at = rng.randrange(len(doc) + 1)
            doc = doc[:at] + bytes([rng.choice(b' ,:[]{}"\\01-.eEtfnNx\t')]) + doc[at + rng.randint(0, 1) :]
        # Accepted: strict JSON; and strict JSON laid out as json.dumps writes it is accepted.
        written = strict(doc) and doc in _dumps_layouts(json.loads(doc))
        for size in (1, 3, 4096):
            try:
                validators.jsonfmt.validate(chunked(doc, size))
                ours = True
            except Invalid:
                ours = False
            assert (ours <= strict(doc)) and (written <= ours), (doc, size)


def _dumps_layouts(value: object) -> set[bytes]:
    """What json.dumps writes for a value, in the layouts the test's generator uses."""
    import json

    return {
        json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode()
        for ascii_only in (True, False)
        for indent in (None, 1)
    }


def test_gzip_members_and_what_follows_them():
    two = gzip.compress(b"first\n") + gzip.compress(b"second\n")
    assert vet(two, "text/plain", 3) == [("application/gzip", "gzip"), ("text/plain", "text")]
    with pytest.raises(Invalid, match="bytes after the last member"):
        vet(two + b"\0\0\0\0", "text/plain")
    with pytest.raises(Invalid, match="ends inside a member"):
        vet(two[:-1], "text/plain")
    with pytest.raises(Invalid, match="not a valid deflate stream"):
        vet(two[:12] + b"\xff" * 20 + two[32:], "text/plain")


def test_containers_nest_only_so_deep():
    data = b"deep\n"
    for _ in range(validators.MAX_DEPTH):
        data = gzip.compress(data)
    assert len(vet(data, "text/plain")) == validators.MAX_DEPTH + 1  # gzip is vmguard's to identify
    with pytest.raises(Invalid, match="nested more than"):
        vet(gzip.compress(data), "text/plain")


def test_fits_rules_on_a_minimal_file():
    def card(text: str) -> bytes:
        return text.ljust(80).encode()

    header = (
        card("SIMPLE  =                    T")
        + card("BITPIX  =                    8")
        + card("NAXIS   =                    1")
        + card("NAXIS1  =                   10")
        + card("END")
    )
    good = header.ljust(2880) + b"0123456789".ljust(2880, b"\0")
    assert vet(good, "image/fits", 1000) == [("image/fits", "fits")]
    with pytest.raises(Invalid, match="ends inside the data section"):
        vet(good[:2885], "image/fits")
    with pytest.raises(Invalid, match="the fill after a data section holds data"):
        vet(good[:-1] + b"X", "image/fits")
    with pytest.raises(Invalid, match="more than blanks after its END card"):
        vet(header + b"X" + good[len(header) + 1 :], "image/fits")
    with pytest.raises(Invalid, match="does not start with the card SIMPLE = T"):
        vet(good.replace(b"=                    T", b"=                    F", 1), "image/fits")
    with pytest.raises(Invalid, match="lacks the mandatory keyword NAXIS1"):
        vet(good.replace(b"NAXIS1  =", b"NAXISX  =", 1), "image/fits")


def test_stream_reads_across_chunks_and_never_past_the_end():
    stream = chunked(b"abcdefgh", 3)
    assert stream.peek(5) == b"abcde" and stream.read(4, "x", "t") == b"abcd"
    stream.skip(2, "x", "t")
    assert stream.pos == 6 and not stream.at_end()
    with pytest.raises(Invalid, match="t: the file ends inside the part \\(offset 8\\)"):
        stream.read(3, "the part", "t")
