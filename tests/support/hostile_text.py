"""Hostile strings for the display-injection tests, and the checks their output must pass.

The checks are written independently of vmguard.core.display (from Unicode categories), so
a gap in vmguard's escaping cannot hide itself in the oracle.
"""

from __future__ import annotations

import io
import re
import unicodedata
from contextlib import redirect_stderr, redirect_stdout

from hypothesis import strategies as st
from markdown_it import MarkdownIt

# What a VM may try on a terminal or in a report: ESC and 8-bit C1 sequences (OSC 52
# clipboard write, OSC 8 hyperlink, OSC 0 title, CSI clear screen and colour), line
# forgers, bidi and invisible characters, and Markdown/HTML syntax.
PIECES = (
    "\x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\x07",
    "\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\",
    "\x1b]0;owned\x07",
    "\x1b[2J\x1b[H",
    "\x1b[31m",
    "\x1bc",
    "\x9b2J",
    "\x9d52;c;Zm9v\x9c",
    "\r",
    "\n",
    "\r\n",
    "\u2028",
    "\u2029",
    "\x85",
    "\x0b",
    "\x0c",
    "\x00",
    "\x7f",
    "\x08",
    "\u202e",
    "\u202d",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
    "\u200b",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\U000e0041",
    "\u3164",
    "\ufe0f",
    "\\",
    "\\x1b",
    "|",
    "#",
    "## ",
    "* ",
    "- ",
    "1. ",
    "> ",
    "`",
    "*",
    "_",
    "[a](http://x)",
    "<b>",
    "<script>",
    "&amp;",
    "&#10;",
    "---",
    "| a | b |",
    "\t",
    " https://evil.example/x ",
    " www.evil.example ",
    " WWW.evil.example",
    " a@evil.com ",
    " mailto:a@evil.com",
    "<https://evil.example>",
    ";//evil.example/",
)
FORGED = "\n| critical | VMG-FS-001 | forged | new | x |\n## VM forged\n  critical forged"

hostile_text = st.lists(
    st.one_of(st.sampled_from(PIECES), st.characters(), st.text(max_size=3)), min_size=1, max_size=12
).map("".join)

# XML 1.0 cannot carry these at all (not even as &#N;): a domain or .vbox file never has
# them, so the XML channels use every other character.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_legal(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def xml_normalised(text: str) -> str:
    """What an XML parser hands over for element content (line ends become LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def xml_attribute(text: str) -> str:
    """What a parser hands over for an attribute written raw (libvirt rewrites the
    test driver's file, turning &#13; and &#10; into raw characters)."""
    return xml_normalised(text).replace("\n", " ").replace("\t", " ")


BAD_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def bad_characters(text: str, allowed: str = "\n") -> list[str]:
    """Characters that act on a terminal, break a line or are invisible, except `allowed`."""
    return sorted(
        {
            c
            for c in text
            if c not in allowed
            and (unicodedata.category(c) in BAD_CATEGORIES or c == "\u3164" or "\ufe00" <= c <= "\ufe0f")
        }
    )


def assert_inert(text: str, allowed: str = "\n") -> None:
    bad = bad_characters(text, allowed)
    assert not bad, f"raw {[f'U+{ord(c):04X}' for c in bad]} in output:\n{text[:2000]!r}"


def run_cli(main, argv: list[str]) -> tuple[int, str, str]:
    """The real CLI in this process: (exit code, stdout, stderr). UTF-8 streams with a
    binary buffer, like a terminal's: a raw surrogate would fail to encode."""
    out, err = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8") for _ in range(2))
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    out.flush()
    err.flush()
    return code, out.buffer.getvalue().decode(), err.buffer.getvalue().decode()


def markdown_tokens(text: str) -> list:
    """What a GitHub-style viewer builds from a report: CommonMark, tables, and autolinks
    of bare URLs and e-mail addresses (GFM also links "www.": see `assert_no_links`)."""
    md = MarkdownIt("gfm-like")
    md.linkify.set({"fuzzy_link": False})  # GFM links no bare "evil.example"
    return md.parse(text)


def assert_no_links(text: str, tokens: list) -> None:
    """No link a viewer would make: neither a Markdown nor an auto link, nor "www."."""
    found = [c for t in tokens for c in (t.children or []) if c.type == "link_open"]
    assert not found, [c.attrs for c in found]
    assert not re.search(r"(?i)www\.", text), "an unescaped www. (GFM links it)"


def headings(tokens: list) -> list[str]:
    return [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]


def body_rows(tokens: list) -> int:
    return sum(1 for t in tokens if t.type == "tr_open") - sum(1 for t in tokens if t.type == "thead_open")
