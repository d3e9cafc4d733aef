"""The CLI speaks one vocabulary: every --format from OutputFormat's names, every
inventory as -i/--inventory with help, every --fail-on with the same values, every
choice from an enum and refused with the list of choices."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from vmguard.cli import build_parser
from vmguard.cli.output import FailOn, OutputFormat


def options(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from options(sub, (*words, name))
        else:
            yield words, action


ALL = list(options(build_parser([])))


def test_every_format_uses_the_shared_names():
    formats = [(w, a) for w, a in ALL if "--format" in a.option_strings]
    assert len(formats) >= 14
    for words, action in formats:
        if words == ("audit",):  # a comma-separated list of report files: checked by the run
            assert "markdown" in action.help and "json" in action.help
            continue
        assert action.choices and set(action.choices) <= set(OutputFormat), words
        assert all(isinstance(c, OutputFormat) for c in action.choices), words


def test_every_inventory_is_dash_i_with_help():
    inventories = [(w, a) for w, a in ALL if "--inventory" in a.option_strings]
    assert len(inventories) >= 12  # vms, plan, apply, rollback, firewall x5, audit, watch, inventory check
    for words, action in inventories:
        assert action.option_strings == ["-i", "--inventory"] and action.help, words


def test_every_fail_on_has_the_same_values():
    fail_on = [(w, a) for w, a in ALL if "--fail-on" in a.option_strings]
    assert {w for w, _ in fail_on} == {("audit",), ("report", "merge")}
    for _, action in fail_on:
        assert action.choices == list(FailOn) and action.default is FailOn.HIGH


@pytest.mark.parametrize(
    "argv",
    [
        ["vms", "-i", "x.yaml", "--format", "md"],
        ["audit", "-i", "x.yaml", "--fail-on", "severe"],
        ["firewall", "plan", "-i", "x.yaml", "--backend", "pf"],
        ["audit", "-i", "x.yaml", "--guest", "maybe"],
    ],
)
def test_a_wrong_choice_is_exit_2_naming_the_choices(argv):
    proc = subprocess.run(
        [sys.executable, "-m", "vmguard", *argv], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "invalid choice" in proc.stderr and "choose from" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_audit_still_accepts_md_for_markdown(tmp_path):
    """Control for the rename: the old report name keeps working (cron lines in the wild)."""
    from vmguard.audit.run import check_formats

    assert check_formats(["json", "md", "markdown"]) == ("json", "markdown")
