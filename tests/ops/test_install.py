"""Installing vmguard as docs/install.md says: the wheel in a fresh virtualenv with no
compiler runs `vmguard demo`; the documented /opt install runs (under a scratch prefix
and root); `systemd-analyze verify` accepts the shipped units."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.install_doc import install_lines
from tests.support.require import require_tools
from vmguard.cli import main
from vmguard.system.install import UNITS, install, unit_text

ROOT = Path(__file__).parents[2]
PLAIN_ENV = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


def systemd_verify(*units: Path) -> subprocess.CompletedProcess:
    require_tools("systemd-analyze")
    return subprocess.run(
        ["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True, timeout=60
    )


def installed_units(root: Path) -> list[Path]:
    return [root / "etc/systemd/system" / unit for unit in UNITS]


def test_shipped_units_pass_systemd_analyze_verify(tmp_path):
    done = install(tmp_path)
    proc = systemd_verify(*installed_units(tmp_path))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    audit = (tmp_path / "etc/systemd/system/vmguard-audit.service").read_text()
    assert f"ExecStart={done.command} --quiet audit --inventory /etc/vmguard/inventory.yaml" in audit
    assert (tmp_path / "usr/local/bin/vmguard").resolve() == done.command.resolve()
    assert "    create 0640 root adm\n" in (tmp_path / "etc/logrotate.d/vmguard").read_text()
    for folder in ("etc/vmguard", "var/lib/vmguard/audit_reports", "var/log/vmguard"):
        assert (tmp_path / folder).is_dir()


def test_control_a_broken_unit_is_refused(tmp_path):
    """Control: verify is not a rubber stamp (a command that does not exist)."""
    unit = tmp_path / "vmguard-audit.service"
    unit.write_text(unit_text("vmguard-audit.service", tmp_path / "no-such-vmguard"))
    assert systemd_verify(unit).returncode != 0


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


@pytest.fixture(scope="module")
def wheel(vmguard_wheel) -> Path:
    return vmguard_wheel


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
    assert systemd_verify(*installed_units(root)).returncode == 0
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
