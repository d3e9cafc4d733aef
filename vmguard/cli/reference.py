"""Regenerate the reference files from their one source each: the man page and the shell
completions from the argparse parser, docs/policy-reference.md from the policy schema.

    python -m vmguard.cli.reference          # rewrite them in the source tree
    python -m vmguard.cli.reference --check  # exit 1 naming each file that is stale

Needs the test extra (argparse-manpage, shtab); an installed vmguard only ships the output.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from vmguard import __version__
from vmguard.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
WIDTH = "100"  # argparse wraps help text to $COLUMNS: fixed, so the output is reproducible


def man_page() -> str:
    from argparse_manpage.manpage import Manpage

    data = {
        "project_name": "vmguard",
        "version": __version__,
        "date": f"vmguard {__version__}",  # reproducible: no build date
        "manual_title": "vmguard manual",
        "description": "enforce and audit security policy on virtual machines",
    }
    return str(Manpage(build_parser([]), _data=data))


def completion(shell: str) -> Callable[[], str]:
    def generate() -> str:
        import shtab

        # `shell` names the completion dialect (bash, zsh): nothing is run in a shell
        return shtab.complete(build_parser([]), shell=shell)  # nosec B604

    return generate


def policy_reference() -> str:
    from vmguard.policy import reference
    from vmguard.policy.dump import to_data
    from vmguard.policy.loader import check_policy

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "defaults.yaml"
        path.write_text("apiVersion: vmguard/v1\nkind: Policy\nmetadata: {name: defaults}\n")
        defaults = {"spec": to_data(check_policy(str(path)).policy)["spec"]}  # no example name
    return reference.policy_reference(reference.policy_schema(), defaults)


FILES: dict[str, Callable[[], str]] = {
    "man/vmguard.1": man_page,
    "completion/vmguard.bash": completion("bash"),
    "completion/_vmguard": completion("zsh"),
    "docs/policy-reference.md": policy_reference,
}


def generate() -> dict[str, str]:
    """Each reference file's path (relative to the source tree) -> its text."""
    os.environ["COLUMNS"] = WIDTH
    return {path: make() for path, make in FILES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmguard.cli.reference", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for rel, text in generate().items():
        path = ROOT / rel
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(rel)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for rel in stale:
        print(f"{'stale' if args.check else 'wrote'}: {rel}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
