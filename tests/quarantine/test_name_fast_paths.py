"""The name checks' short cuts for a name that is its only client form (most names: ASCII,
no ':' ';' or trailing dot or space): names._acted_on asks each question of it once, and
served.name_reasons asks only its extensions (cached) when gunzip does not take it. Both
give the answers of the general path, on every name the tables name and their variants."""

from __future__ import annotations

import itertools
import random

import pytest

from vmguard.quarantine import dirconfig, names, served, served_active, texdist, toolnames
from vmguard.quarantine.client_forms import client_names
from vmguard.quarantine.served_pages import JSON_NAMES, PAGES


def _names() -> list[str]:
    tables = [
        dirconfig._SERVERS_AND_TOOLS, dirconfig._ASY, dirconfig._TEX, texdist.distribution_names(),
        {f"x.{e}" for e in dirconfig.AUX_EXTENSIONS}, {p + "x" + s for p, s in dirconfig.CONFIG_PATTERNS},
        {f"{p}x" for p in dirconfig._CACHES}, names._ALIASES, set(names.ALIASED_DOT_NAMES),
        toolnames.names(), {f"{p}x{s}" for p, s, _ in toolnames.PATTERNS}, toolnames.EXCLUDED,
    ]  # fmt: skip
    exts = sorted(
        {*PAGES, *JSON_NAMES, *served.FAMILIES, *served_active.WINDOWS_ACTIVE, *served_active.DESKTOP_ACTIVE}
        | {*served_active.SERVER_ACTIVE, *served_active.LAST_ACTIVE, *served_active.TOOL_LOADED}
        | {"dat", "out", "lhe", "en", "es", "tr", "md", "gz", "tgz", "z", "Z", "TXT", "Html"}
    )
    found = {n for table in tables for n in table}
    found |= {f"f{i:06}.{e}" for i, e in enumerate(exts)}
    rng = random.Random(13)
    found |= {".".join(["run", *rng.sample(exts, k)]) for k in (1, 2, 3) for _ in range(400)}
    found |= {
        f"{m}{n}" for m, n in itertools.product(("", ".", "-", "+", "@", "x~1", "_"), sorted(found)[:300])
    }
    found |= {n.upper() for n in sorted(found)[::7]} | {f"{n}.tex" for n in sorted(found)[::5]}
    found |= {"GIT~1", "NODE_M~1", "DESKTO~1.INI", "WEB~2.CON", "MT-X~1.CFG", ".", "..", "a", "x.", "x "}
    return sorted(found)


NAMES = _names()


def test_the_names_reach_both_sides_of_every_answer():
    forms = [n for n in NAMES if client_names(n) == (n,)]
    assert len(forms) > 3000 and {tuple(names.acted_on(n)) for n in forms} >= {
        (),
        *((r,) for r in names.RULES),
    } - {
        (names.Reason.NAME_COLLISION,),
        (names.Reason.PATH_TOO_LONG,),
    }


@pytest.mark.parametrize("dot_names", [frozenset(), frozenset({".snakemake", ".htaccess"})])
def test_acted_on_of_a_single_form_is_the_general_answer(dot_names):
    for name in NAMES:
        forms = client_names(name)
        # the general path, the same form twice: any() and dict.fromkeys give what one gives
        assert names._acted_on(name, forms, dot_names) == names._acted_on(
            name, (*forms, *forms), dot_names
        ), name


@pytest.mark.parametrize(
    ("validators", "admitted", "chosen", "not_json"),
    [
        (("text",), True, None, None),
        (("text",), False, None, None),
        (("json",), True, None, None),
        (("text",), True, None, "a rule"),
        (("fits",), True, "image/fits", None),
        (("hdf5",), True, None, None),
        ((None,), True, "text/html", None),
        ((), False, None, None),
    ],
)
def test_served_by_extensions_is_the_general_answer(validators, admitted, chosen, not_json):
    for name in NAMES:
        fast = served.name_reasons(name, validators, admitted, chosen, not_json)
        assert fast == served._unpacked_reasons(name, validators, admitted, chosen, not_json), name
