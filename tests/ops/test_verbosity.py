"""-q/-v on every command, and the progress display: drawn on a terminal, silent under
cron (no terminal) and with -q."""

from __future__ import annotations

import argparse
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmguard.cli import build_parser

ROOT = Path(__file__).parents[2]
POLICY = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: progress-test}
spec:
  quarantine:
    allow_types: [text/plain]
"""


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Every (sub)command path and its parser, e.g. ('firewall', 'plan')."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*prefix, name), child
                yield from _commands(child, (*prefix, name))


def test_every_command_takes_quiet_and_verbose():
    parser = build_parser([])
    commands = list(_commands(parser))
    assert len(commands) >= 25  # all areas registered: the walk sees every command
    for path, child in commands:
        options = {s for a in child._actions for s in a.option_strings}
        assert {"-q", "--quiet", "-v", "--verbose"} <= options, path


@pytest.mark.parametrize(
    "argv, quiet, verbose",
    [
        (["rules", "list"], False, 0),
        (["-q", "rules", "list"], True, 0),
        (["rules", "list", "-q"], True, 0),
        (["-v", "rules", "list"], False, 1),
        (["rules", "list", "-vv"], False, 2),
        (["-v", "log", "verify", "--quiet"], True, 1),  # nested: both kept
    ],
)
def test_global_options_before_or_after_the_command(argv, quiet, verbose):
    args = build_parser(argv).parse_args(argv)
    assert (args.quiet, args.verbose) == (quiet, verbose)


@pytest.fixture
def area(tmp_path):
    quarantine = tmp_path / "q"
    quarantine.mkdir()
    for i in range(300):
        (quarantine / f"f{i:03}.txt").write_text(f"line {i}\n")
    (tmp_path / "policy.yaml").write_text(POLICY)
    return tmp_path


def _vet_argv(area: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vmguard",
        "vet",
        str(area / "q"),
        "--policy",
        str(area / "policy.yaml"),
        "--to",
        str(area / f"pub-{len(list(area.glob('pub-*')))}"),
        *extra,
    ]


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "VMGUARD_LOG": str(tmp / "events.jsonl"), "TERM": "xterm"}


def _in_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run argv with stderr on a pseudo-terminal (stdout to a pipe); its exit and stderr."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, env=env, cwd=ROOT)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    proc.communicate(timeout=60)
    os.close(master)
    return proc.returncode, seen.decode(errors="replace")


def test_progress_is_drawn_on_a_terminal(area):
    code, err = _in_terminal(_vet_argv(area), _env(area))
    assert code == 0, err
    assert "vetting 300 entries" in err and "\x1b[" in err


def test_quiet_draws_nothing_on_a_terminal(area):
    code, err = _in_terminal(_vet_argv(area, "-q"), _env(area))
    assert code == 0, err
    assert err == ""


def test_no_terminal_no_progress_and_verbose_says_each_step(area):
    """Under cron stderr is a pipe or a file: no bar, no escapes; -v gives plain lines."""
    plain = subprocess.run(_vet_argv(area), capture_output=True, text=True, env=_env(area), cwd=ROOT)
    assert plain.returncode == 0 and plain.stderr == ""
    verbose = subprocess.run(_vet_argv(area, "-v"), capture_output=True, text=True, env=_env(area), cwd=ROOT)
    assert verbose.returncode == 0
    assert "vmguard: vetting 300 entries ..." in verbose.stderr and "\x1b" not in verbose.stderr


def test_verbose_shows_each_logged_event(area):
    proc = subprocess.run(_vet_argv(area, "-v"), capture_output=True, text=True, env=_env(area), cwd=ROOT)
    assert proc.returncode == 0
    assert 'vmguard: logged vet {"dry_run": false, "job": "q"' in proc.stderr
    quiet = subprocess.run(_vet_argv(area, "-q"), capture_output=True, text=True, env=_env(area), cwd=ROOT)
    assert quiet.returncode == 0 and quiet.stderr == ""
