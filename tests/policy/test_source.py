"""The YAML reader refuses what a hand-written security policy must not contain."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.policy.helpers import HEAD, check, write
from vmguard.policy.loader import check_policy

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def only_problem(checked) -> str:
    assert checked.policy is None
    assert len(checked.problems) == 1, checked.problems
    p = checked.problems[0]
    return f"{p.line}:{p.col}: {p.message}"


def test_billion_laughs_is_refused_fast(tmp_path):
    start = time.monotonic()
    result = check(tmp_path, BILLION_LAUGHS, head=False)
    assert time.monotonic() - start < 1.0
    assert only_problem(result) == "2:8: YAML aliases (*name) are not allowed; use `extends`"


def test_recursive_alias_is_refused(tmp_path):
    assert "aliases" in only_problem(check(tmp_path, "a: &x [*x]\n", head=False))


def test_duplicate_key_is_an_error_not_last_wins(tmp_path):
    text = "spec:\n  devices:\n    usb: disabled\n    usb: enabled\n"
    assert only_problem(check(tmp_path, text)) == "7:5: duplicate key 'usb' (first at line 6)"


def test_merge_keys_are_refused(tmp_path):
    text = "spec:\n  devices:\n    <<: {usb: enabled}\n"
    assert "merge keys" in only_problem(check(tmp_path, text))


def test_python_tags_are_refused(tmp_path):
    text = "spec: !!python/object/apply:os.system ['true']\n"
    assert "unsupported YAML tag" in only_problem(check(tmp_path, text))


def test_syntax_error_is_located(tmp_path):
    text = "spec:\n  devices: [usb\n"
    assert only_problem(check(tmp_path, text)).startswith("6:1: YAML syntax:")


def test_latin1_file_is_refused_with_position(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(HEAD.encode() + b"# caf\xe9\n")
    result = check_policy(path)
    assert only_problem(result) == "4:6: not UTF-8 text (save the file as UTF-8)"


def test_utf16_file_is_refused(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(HEAD.encode("utf-16"))
    assert "not UTF-8" in only_problem(check_policy(path))


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + HEAD.encode())
    assert check_policy(path).policy is not None


def test_missing_file(tmp_path):
    assert (
        only_problem(check_policy(tmp_path / "nope.yaml"))
        == "0:0: cannot read file: No such file or directory"
    )


def test_directory_instead_of_file(tmp_path):
    assert "cannot read file" in only_problem(check_policy(tmp_path))


def test_unreadable_file(tmp_path):
    """As root every file is readable, so read as an unprivileged user in a child process."""
    shared = Path(tempfile.mkdtemp(prefix="vmg-unreadable-"))
    try:
        shared.chmod(0o755)
        path = write(shared, HEAD)
        path.chmod(0)
        code = (
            "import sys; from vmguard.policy.loader import check_policy; "
            "print(check_policy(sys.argv[1]).problems[0].message)"
        )
        demote = (lambda: os.setuid(65534)) if os.geteuid() == 0 else None
        run = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            preexec_fn=demote,
            check=True,
            cwd="/",
        )
        assert run.stdout == "cannot read file: Permission denied\n"
    finally:
        shutil.rmtree(shared)


def test_huge_file_is_refused(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(HEAD + "#" * (1024 * 1024))
    assert "larger than" in only_problem(check_policy(path))


def test_deep_nesting_is_refused_not_a_crash(tmp_path):
    assert "nesting is deeper than 32 levels" in only_problem(
        check(tmp_path, "[" * 5000 + "]" * 5000, head=False)
    )


def test_empty_file(tmp_path):
    assert only_problem(check(tmp_path, "", head=False)) == "1:1: expected a mapping at the top level"


def test_control_character_is_a_clear_error(tmp_path):
    assert "YAML" in only_problem(check(tmp_path, "a: \x07\n", head=False))
