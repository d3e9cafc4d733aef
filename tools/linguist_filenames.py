"""Print the `filenames` of GitHub linguist's programming languages, lower case, without
the dot names, for vmguard/quarantine/toolnames.py's LINGUIST (made once, session 40).

Source: the npm package linguist-languages 9.5.0 (MIT licence): each language's `type`
and `filenames`. Usage: python tools/linguist_filenames.py FILE.json, FILE either its
languages.json ({language: {type, filenames, ...}}) or a {type: [[language, [filenames]]]}
dump of it.
"""

from __future__ import annotations

import json
import sys
import textwrap


def programming(data: dict) -> list[str]:
    """The programming languages' file names, lower case, dot names left out, in order."""
    if isinstance(data.get("programming"), list):  # {type: [[language, names]]}
        pairs = data["programming"]
    else:  # languages.json
        pairs = [(k, v.get("filenames", [])) for k, v in data.items() if v.get("type") == "programming"]
    names = [n.lower() for _, found in pairs for n in found if not n.startswith(".")]
    return list(dict.fromkeys(names))


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as src:
        print(textwrap.fill(" ".join(programming(json.load(src))), 100, break_on_hyphens=False))
