"""Installing vmguard as docs/install.md says: the wheel in a fresh virtualenv with no
compiler runs `vmguard demo`; the documented /opt install runs (under a scratch prefix
and root); `systemd-analyze verify` accepts the shipped units."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.install_doc import install_lines
from tests.support.require import require_tools
from vmguard.cli import main
from vmguard.system.install import GATE_UNIT, UNITS, command_path, install, unit_text, units

ROOT = Path(__file__).parents[2]
PLAIN_ENV = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


def systemd_verify(*units: Path, root: Path | None = None) -> subprocess.CompletedProcess:
    """verify also runs `man` for each Documentation=man:...: with `root`, it looks where
    the install linked the man page (/usr/local/share/man is on man's default path)."""
    require_tools("systemd-analyze")
    env = {**os.environ, "MANPATH": str(root / "usr/local/share/man")} if root else None
    return subprocess.run(
        ["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True, timeout=60, env=env
    )


def wheel_like_prefix(folder: Path) -> Path:
    """This environment's vmguard command in a prefix that, like a wheel install, has the
    man page under share/ (an editable install has none): the command to install."""
    (folder / "bin").mkdir(parents=True)
    (folder / "share/man/man1").mkdir(parents=True)
    shutil.copy(ROOT / "man/vmguard.1", folder / "share/man/man1/vmguard.1")
    command = folder / "bin/vmguard"
    command.symlink_to(Path(sys.prefix) / "bin/vmguard")
    return command


def installed_units(root: Path, gate: bool = False) -> list[Path]:
    return [root / "etc/systemd/system" / unit for unit in units(gate)]


def test_shipped_units_pass_systemd_analyze_verify(tmp_path):
    root = tmp_path / "root"
    done = install(root, wheel_like_prefix(tmp_path / "prefix"), gate=True)
    proc = systemd_verify(*installed_units(root, gate=True), root=root)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert (root / "usr/local/share/man/man1/vmguard.1").resolve() == (
        tmp_path / "prefix/share/man/man1/vmguard.1"
    ).resolve()
    for unit in installed_units(root, gate=True):
        assert "\nDocumentation=man:vmguard(1)\n" in unit.read_text(), unit
    gate = (root / "etc/systemd/system" / GATE_UNIT).read_text()
    assert f"ExecStart={done.command} --quiet hook serve --socket /run/vmguard/gate.sock" in gate
    assert "RuntimeDirectoryMode=0700" in gate  # the hook refuses a socket folder others can use
    audit = (root / "etc/systemd/system/vmguard-audit.service").read_text()
    assert f"ExecStart={done.command} --quiet audit --inventory /etc/vmguard/inventory.yaml" in audit
    assert (root / "usr/local/bin/vmguard").resolve() == done.command.resolve()
    assert "    create 0640 root adm\n" in (root / "etc/logrotate.d/vmguard").read_text()
    for folder in ("etc/vmguard", "var/lib/vmguard/audit_reports", "var/log/vmguard"):
        assert (root / folder).is_dir()


def test_the_gate_unit_is_opt_in(tmp_path):
    install(tmp_path)
    written = {p.name for p in (tmp_path / "etc/systemd/system").iterdir()}
    assert written == set(UNITS) and GATE_UNIT not in written


def test_the_gate_unit_serves_the_hook(tmp_path):
    """The unit's own ExecStart, run: the socket it names answers, root's alone."""
    if os.geteuid() != 0:
        pytest.skip("the gate's socket folder must be root's")
    install(tmp_path, gate=True)
    unit = (tmp_path / "etc/systemd/system" / GATE_UNIT).read_text()
    argv = shlex.split(re.search(r"^ExecStart=(.*)$", unit, re.M).group(1))
    socket_path = tmp_path / "run/vmguard/gate.sock"
    argv[argv.index("/run/vmguard/gate.sock")] = str(socket_path)
    (tmp_path / "run").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
            time.sleep(0.1)
        assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_control_a_broken_unit_is_refused(tmp_path):
    """Control: verify is not a rubber stamp (a command that does not exist; a man page
    that is not installed)."""
    unit = tmp_path / "vmguard-audit.service"
    unit.write_text(unit_text("vmguard-audit.service", tmp_path / "no-such-vmguard"))
    assert systemd_verify(unit).returncode != 0
    bare = tmp_path / "bare/bin/vmguard"  # a vmguard whose environment has no man page
    bare.parent.mkdir(parents=True)
    bare.symlink_to(command_path())
    install(tmp_path / "root", bare)
    proc = systemd_verify(*installed_units(tmp_path / "root"), root=tmp_path / "root")
    assert proc.returncode != 0 and "man vmguard(1)" in proc.stderr


def test_reinstall_replaces_its_own_files_and_leaves_others_alone(tmp_path, capsys):
    install(tmp_path)
    install(tmp_path)  # idempotent
    admin = tmp_path / "etc/systemd/system/vmguard-watch.service"
    admin.write_text("[Service]\nExecStart=/bin/true\n")  # the admin's own unit
    code = main(["system", "install", "--root", str(tmp_path)])
    assert code == 3
    assert "not written by vmguard, left alone" in capsys.readouterr().err
    assert admin.read_text() == "[Service]\nExecStart=/bin/true\n"


def test_install_where_it_may_not_write_is_exit_3_with_the_reason(tmp_path, capsys):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "systemd").write_text("a file where a folder must be\n")
    assert main(["system", "install", "--root", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("vmguard: cannot install into") and "Traceback" not in err


def test_demo_without_libvirt_python_runs_on_vbox_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VMGUARD_LOG", str(tmp_path / "events.jsonl"))
    out = tmp_path / "reports"
    assert main(["demo", "--lab", "vbox-file", "--out", str(out)]) == 0
    screen = capsys.readouterr().out.splitlines()
    assert len(screen) <= 30 and max(map(len, screen)) <= 100
    assert "VirtualBox settings files" in screen[0] and "libvirt-python adds" in screen[1]
    doc = json.loads((out / "latest" / "report.json").read_text())
    rules = {f["rule"] for vm in doc["vms"] for f in vm["findings"]}
    assert {"VMG-DEV-001", "VMG-DEV-006", "VMG-FS-001", "VMG-NET-003", "VMG-INV-001"} <= rules


@pytest.fixture
def wheel(vmguard_wheel: Path) -> Path:
    return vmguard_wheel  # built once per session (tests/conftest.py), shared with tests/fleet


def _run(argv: list[str] | str, env=PLAIN_ENV, **kw) -> subprocess.CompletedProcess:
    argv = shlex.split(argv) if isinstance(argv, str) else argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env, cwd="/", **kw)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_demo_with_no_compiler(wheelhouse, tmp_path):
    venv = tmp_path / "venv"
    _run(["/usr/bin/python3", "-m", "venv", str(venv)]).check_returncode()  # no system site packages
    # --only-binary: nothing is compiled (libvirt-python, which would need gcc, is not asked for)
    offline = {**PLAIN_ENV, **wheelhouse.offline}  # its wheels: binary ones from the index
    argv = [str(venv / "bin/pip"), "install", "-q", "--only-binary", ":all:", str(wheelhouse.wheel)]
    pip = _run(argv, offline)
    assert pip.returncode == 0, pip.stderr
    assert _run([str(venv / "bin/python"), "-c", "import libvirt"]).returncode != 0
    demo = _run([str(venv / "bin/vmguard"), "demo", "--out", str(tmp_path / "reports")])
    assert demo.returncode == 0, demo.stderr
    assert "VirtualBox settings files" in demo.stdout and "3. vet" in demo.stdout
    assert (tmp_path / "reports/latest/report.html").is_file()


@pytest.mark.slow
def test_documented_opt_install_runs(wheelhouse, tmp_path):
    """docs/install.md's lines, with /opt/vmguard and / moved under tmp_path. Left out:
    apt-get (its packages are in .ci/apt-packages.txt) and systemctl (no systemd here:
    systemd-analyze verify checks the units instead)."""
    prefix, root = tmp_path / "opt/vmguard", tmp_path / "root"
    lines = install_lines()
    assert lines[0].startswith("apt-get install") and lines[-1].startswith("systemctl enable --now")
    for line in lines:
        if line.startswith(("apt-get ", "systemctl ")):
            continue
        line = line.replace("/path/to/vmguard-*.whl", str(wheelhouse.wheel))
        line = line.replace("/opt/vmguard", str(prefix))
        if line.startswith("python3 "):
            line = "/usr/bin/" + line  # Debian's python3, as on a fresh host
        if line.endswith("vmguard system install"):
            line += f" --root {root}"
        proc = _run(line, {**PLAIN_ENV, **wheelhouse.offline})
        assert proc.returncode == 0, (line, proc.stderr)
    link = root / "usr/local/bin/vmguard"
    assert link.resolve() == (prefix / "bin/vmguard").resolve()
    assert (root / "usr/local/share/man/man1/vmguard.1").resolve().is_file()  # from the wheel
    assert systemd_verify(*installed_units(root), root=root).returncode == 0
    demo = _run([str(link), "demo", "--out", str(tmp_path / "reports")])
    assert demo.returncode == 0, demo.stderr
    # Debian's python3-libvirt through --system-site-packages: the libvirt lab, no compiler
    assert "libvirt's test driver" in demo.stdout.splitlines()[0]
    shutil.rmtree(prefix)


def pipx_lines() -> list[str]:
    text = (ROOT / "docs" / "install.md").read_text()
    return re.search(r"## For one admin.*?```sh\n(.*?)```", text, re.S).group(1).strip().splitlines()


@pytest.mark.slow
def test_documented_pipx_install_runs_the_demo(wheel, tmp_path):
    """docs/install.md's pipx lines for one admin: pipx's own virtualenv (no system site
    packages, so no libvirt-python), with PIP_ONLY_BINARY proving nothing is compiled."""
    require_tools("pipx")
    bin_dir = tmp_path / "bin"
    env = {
        **PLAIN_ENV,
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(bin_dir),
        "PIP_ONLY_BINARY": ":all:",
    }
    for line in pipx_lines():
        line = line.replace("/path/to/vmguard-*.whl", str(wheel))
        proc = subprocess.run(
            shlex.split(line), capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path
        )
        assert proc.returncode == 0, (line, proc.stderr)
    assert "VirtualBox settings files" in proc.stdout  # the last line: vmguard demo
    assert (tmp_path / "audit_reports/latest/report.json").is_file()
