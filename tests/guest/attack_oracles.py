"""Oracles of the attack on `apply --guest`, independent of vmguard: the host's own sshd
judges the guest's sshd_config, debugfs reads the disk back, report.json gives the audit."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

from tests.guest import attack_rig as rig
from tests.support.require import sshd_runtime_dir

TRACEBACK = "Traceback (most recent call last)"


def sshd_effective(attack, image: Path, **conn: str) -> dict[str, str]:
    """What the host's sshd makes of the guest's /etc/ssh for one connection (`sshd -T -C`)."""
    with tempfile.TemporaryDirectory() as tmp:
        rig.debugfs(image, f"rdump /etc/ssh {tmp}")
        top = Path(tmp) / "ssh"
        for path in top.rglob("*"):
            if path.is_symlink() or not path.is_file():
                path.unlink() if path.is_symlink() else None
                continue
            path.write_bytes(path.read_bytes().replace(b"/etc/ssh/", f"{top}/".encode()))
        spec = ",".join(
            f"{k}={v}" for k, v in {"user": "x", "host": "h", "addr": "198.51.100.7", **conn}.items()
        )
        argv = [
            "sshd",
            "-T",
            "-f",
            str(top / "sshd_config"),
            "-o",
            f"HostKey={attack.work / 'hostkey'}",
            "-C",
            spec,
        ]
        sshd_runtime_dir()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)


def insecure_sshd(attack, image: Path) -> list[str]:
    """Every (connection, setting) the policy forbids that sshd would allow."""
    bad = []
    for conn in (
        {"user": "vmadmin1"},
        {"user": "root", "host": "a.example.org"},
        {"user": "intruder", "addr": "192.0.2.9"},
        {"user": "x"},
    ):
        eff = sshd_effective(attack, image, **conn)
        for key, wanted in (
            ("passwordauthentication", "no"),
            ("permitrootlogin", "no"),
            ("permitemptypasswords", "no"),
            ("x11forwarding", "no"),
        ):
            if eff.get(key) != wanted:
                bad.append(f"{conn}: {key} {eff.get(key)}")
    return bad


def accounts(image: Path) -> dict[str, tuple[str, str]]:
    """name -> (effective password field, uid) as glibc/pam_unix would see them."""
    shadow = {}
    for line in rig.guest_file(image, "/etc/shadow").decode(errors="replace").splitlines():
        fields = line.split(":")
        shadow.setdefault(fields[0], fields[1] if len(fields) > 1 else "")
    found = {}
    for line in rig.guest_file(image, "/etc/passwd").decode(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) < 7 or fields[0] in found:
            continue
        pw = shadow.get(fields[0], "*") if fields[1] == "x" else fields[1]
        found[fields[0]] = (pw, fields[2])
    return found


def start_entries(image: Path) -> list[str]:
    """SysV S* entries and systemd wants/requires links that would start telnet or finger."""
    found = []
    for level in "0123456":
        folder = f"/etc/rc{level}.d"
        for name in rig.guest_listing(image, folder):
            target = rig.debugfs(image, f"stat {folder}/{name}").decode(errors="replace")
            if name.startswith("S") and ("telnet" in name or "telnet" in target):
                found.append(f"{folder}/{name}")
    for folder in ("multi-user.target.requires", "sockets.target.wants", "multi-user.target.wants"):
        for name in rig.guest_listing(image, f"/etc/systemd/system/{folder}"):
            if "telnet" in name:
                found.append(f"{folder}/{name}")
    return found


def xinetd_enabled(text: str, service: str) -> bool:
    """xinetd starts `service` unless its block's last `disable` says yes."""
    block = re.search(rf"^service\s+{service}\s*\n\{{(.*?)^\}}", text, re.M | re.S)
    assert block, f"service {service} not found"
    values = re.findall(r"^\s*disable\s*=\s*(\w+)", block.group(1), re.M)
    return not values or values[-1] != "yes"


def audit_rules(result: rig.Result) -> set[str]:
    """Rule ids of the findings in the audit's report.json."""
    out = Path(result.argv[result.argv.index("--out") + 1])
    report = next(out.rglob("report.json"), None)
    assert report, result.text[-2000:]
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            rule = node.get("rule") or node.get("rule_id")
            if isinstance(rule, str) and rule.startswith("VMG-") and node.get("status", "fail") != "pass":
                found.add(rule)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(report.read_text()))
    return found


def refused_cleanly(out: dict) -> str:
    """'' when the apply was refused as claimed: exit 3, a reason, the disk untouched."""
    apply = out["apply"]
    problems = []
    if apply.code != 3:
        problems.append(f"exit {apply.code}")
    if out["after"] != out["before"]:
        problems.append("the disk changed")
    if TRACEBACK in apply.text:
        problems.append("a traceback")
    return ", ".join(problems)


def no_traceback(result: rig.Result) -> None:
    assert TRACEBACK not in result.text, result.text[-3000:]
