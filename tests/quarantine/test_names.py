"""Names: every invisible or format character refused, collisions as a case-insensitive
normalising reader sees them, `names: portable` for Windows clients, and the text report
never printing a line or paragraph separator raw."""

from __future__ import annotations

import os
import sys
import unicodedata

import pytest

import vmguard
from tests.quarantine.conftest import policy, published_files, write
from vmguard.core.display import shown
from vmguard.policy.model import NameRules
from vmguard.quarantine import report
from vmguard.quarantine.model import Reason
from vmguard.quarantine.names import colliding, name_reasons, portable

FORMAT_CHARACTERS = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]


def test_every_format_character_of_the_unicode_data_is_refused():
    assert "\u061c" in FORMAT_CHARACTERS  # ARABIC LETTER MARK: the bidi control once missed
    for char in FORMAT_CHARACTERS:
        assert Reason.NAME_CONTROL in name_reasons(f"run{char}.txt", 255), hex(ord(char))


@pytest.mark.parametrize(
    "char",
    [
        "\u2028",
        "\u2029",  # line and paragraph separators
        "\u200b",
        "\u200d",
        "\u2060",
        "\ufeff",
        "\u00ad",  # zero width, word joiner, BOM, soft hyphen
        "\u034f",
        "\u115f",
        "\u3164",
        "\uffa0",
        "\ufe0f",
        "\U000e0041",
        "\U000e0100",  # invisible
        "\ue000",
        "\U000f0000",  # private use
        "\u0378",  # unassigned
    ],
)
def test_invisible_separator_private_and_unassigned_characters_are_refused(char):
    assert Reason.NAME_CONTROL in name_reasons(f"a{char}b", 255)


def test_control_ordinary_names_in_many_scripts_pass():
    for name in (
        "run_0042.root",
        "résumé.txt",
        "データ.json",
        "Ωmega σ.txt",
        "ıi İ.txt",
        "naïve café.fits",
        "a b (1).txt",
        "a...b",  # dots, but no traversal and no dot file ("..." is a hidden name)
        "emoji 🚀.txt",
    ):
        assert name_reasons(name, 255) == [], name


@pytest.mark.parametrize(
    "pair",
    [
        ("Data.txt", "data.TXT"),
        ("caf\u00e9", "cafe\u0301"),  # composed and decomposed
        ("\ufb01le", "file"),  # compatibility ligature
        ("\u212aelvin", "kelvin"),  # Kelvin sign
        ("stra\u00dfe", "STRASSE"),  # full folding: sharp s
        ("\u03c3\u03bf\u03c6\u03bf\u03c2", "\u03a3\u039f\u03a6\u039f\u03a3"),  # final sigma
        ("d\u0131r", "DIR"),  # dotless i (str.casefold() misses it)
        ("\u0130stanbul", "istanbul"),  # dotted capital I
        ("\u0130stanbul", "I\u0307stanbul"),  # the same, decomposed
        ("\uff21.txt", "a.txt"),  # fullwidth A
        ("\u2460.txt", "1.txt"),  # circled digit
    ],
)
def test_collisions_by_case_normalisation_and_special_folds(pair):
    assert colliding([*pair, "other"]) == set(pair)


def test_control_distinct_names_do_not_collide():
    names = ["a.txt", "b.txt", "résumé", "resume", "σ", "τ", "i", "j", "ü", "u"]
    assert colliding(names) == set()


def test_colliding_siblings_are_both_refused_in_a_real_vet(tmp_path):
    q = tmp_path / "q"
    write(q / "d\u0131r.txt", "one\n")
    write(q / "DIR.txt", "two\n")
    write(q / "ok.txt", "three\n")
    result = vmguard.vet(q, policy(), tmp_path / "pub" / "j", per_file=True)
    assert {e.path for e in result.rejected} == {"d\u0131r.txt", "DIR.txt"}
    assert all(e.reasons == (Reason.NAME_COLLISION,) for e in result.rejected)
    assert published_files(tmp_path / "pub" / "j") == {"ok.txt": b"three\n"}


@pytest.mark.parametrize(
    "name",
    [
        "CON",
        "con.txt",
        "Nul.tar.gz",
        "aux",
        "PRN.log",
        "COM1",
        "lpt9.dat",
        "COM\u00b9",
        "CON .txt",
        "CONIN$",
        "trailing.",
        "trailing ",
        "a:b",
        "star*",
        "q?",
        'quote"',
        "lt<",
        "gt>",
        "pipe|",
    ],
)
def test_portable_refuses_what_windows_cannot_hold(name):
    assert not portable(name)
    assert Reason.NAME_NOT_PORTABLE in name_reasons(name, 255, portable_only=True)
    assert Reason.NAME_NOT_PORTABLE not in name_reasons(name, 255)  # posix: allowed


@pytest.mark.parametrize(
    "name", ["console.txt", "COM10", "LPT0", "nul_run.txt", "CONx", "a.b.c", "run 1.txt", "com1x.txt"]
)
def test_control_portable_keeps_names_that_only_look_reserved(name):
    assert portable(name)


def test_portable_policy_in_a_real_vet(tmp_path):
    q = tmp_path / "q"
    write(q / "aux.dat", "x\n")
    write(q / "fine.txt", "y\n")
    result = vmguard.vet(q, policy(names=NameRules.PORTABLE), tmp_path / "pub" / "j", per_file=True)
    assert [(e.path, e.reasons) for e in result.rejected] == [("aux.dat", (Reason.NAME_NOT_PORTABLE,))]
    assert vmguard.vet(q, policy(), tmp_path / "pub" / "k").status.value == "promoted"


def test_separators_and_format_characters_are_escaped_in_the_text_report(tmp_path):
    q = tmp_path / "q"
    forged = "x\u2028accepted: 9 files\u2029\u061c.txt"
    write(os.path.join(os.fsencode(q), forged.encode()), "z\n")
    result = vmguard.vet(q, policy(), tmp_path / "pub" / "j")
    text = report.report_text(result)
    assert "\u2028" not in text and "\u2029" not in text and "\u061c" not in text
    assert "x\\u2028accepted: 9 files\\u2029\\u061c.txt" in text
    assert len(text.splitlines()) == len(text.split("\n")) - 1  # str.splitlines would split at U+2028
    assert shown("\u2028") == "\\u2028"
