"""The hostile guests of the independent attack on `apply --guest`, and what each case does.

Each case is a function of a Lab (a stopped test domain on a copy of the planted root,
changed by the case's `mutate`) returning what the test asserts on: the command
results, the image's hashes, files read back with debugfs. The cases run in parallel
(a TCG appliance uses about one core; one apply is 60-90 s on an idle 2-core host).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.guest import attack_rig as rig
from tests.guest import images

HASH = images.HASH
CRLF_MATCH = b"Match Host *.example.org\r\n\tpermitrootlogin=yes\r\n"


# --- mutations: what the guest's owner (root in it) left behind ---------------------


def _append(root: Path, path: str, data: bytes) -> None:
    with (root / path.lstrip("/")).open("ab") as f:
        f.write(data)


def mutate_fixable(root: Path) -> None:
    """Parseable but adversarial: Match/Include tricks, extra uid 0, start links in disguise."""
    # sshd: an Include inside a Match block re-enables root login and empty passwords for
    # the admin; a Match block in CRLF with `keyword=value` in lower case; quoted values.
    _append(root, "/etc/ssh/sshd_config", b"Match User vmadmin1\n\tInclude /etc/ssh/match.d/*.conf\n")
    images.write(root, "/etc/ssh/match.d/pw.conf", "PermitEmptyPasswords yes\nPermitRootLogin yes\n")
    _append(root, "/etc/ssh/sshd_config", CRLF_MATCH)
    _append(
        root,
        "/etc/ssh/sshd_config",
        b'Match Group staff\n  PermitRootLogin "yes"\n  PermitEmptyPasswords yes\n',
    )
    # An included file (read at the top's Include line) opening its own Match block.
    images.write(root, "/etc/ssh/sshd_config.d/zz-late.conf", "Match User *\n\tX11Forwarding yes\n")
    # Accounts: extra uid 0 with a hash, uid 0 with an empty passwd field and no shadow
    # line, an empty shadow password.
    _append(root, "/etc/passwd", b"toor:x:0:0:extra root:/root:/bin/bash\n")
    _append(root, "/etc/passwd", b"r00t::0:0:empty, no shadow line:/root:/bin/sh\n")
    _append(root, "/etc/passwd", b"svc:x:507:507:empty shadow:/home/svc:/bin/sh\n")
    _append(root, "/etc/shadow", f"toor:{HASH}:19000:0:99999:7:::\nsvc::19000::::::\n".encode())
    # Services: a start link named after an allowed service running the forbidden one
    # (start scripts that are regular files: case rcfile), a systemd `requires` link, a sockets.target `wants` link, xinetd services inline in
    # xinetd.conf, two per file, and a commented `disable = yes`.
    images.link(root, "/etc/rc2.d/S21sshd", "../init.d/telnetd")
    images.link(
        root,
        "/etc/systemd/system/multi-user.target.requires/telnet.service",
        "/lib/systemd/system/telnet.service",
    )
    images.link(
        root, "/etc/systemd/system/sockets.target.wants/telnet.socket", "/lib/systemd/system/telnet.socket"
    )
    _append(
        root,
        "/etc/xinetd.conf",
        b"service finger\n{\n\tsocket_type = stream\n\twait = no\n\tuser = nobody\n}\n",
    )
    images.write(
        root,
        "/etc/xinetd.d/multi",
        "service daytime\n{\n\tdisable = yes\n}\nservice echo\n{\n\ttype = INTERNAL\n\tdisable = no\n}\n",
    )
    images.write(root, "/etc/xinetd.d/chargen", "# disable = yes\nservice chargen\n{\n\tdisable = no\n}\n")


def mutate_shared(root: Path) -> None:
    """The independent, fixable attacks on one guest: fixable, pwauth and bytes (the probe
    header goes into the image itself, attack_rig.variant does not see it)."""
    mutate_fixable(root)
    mutate_pwauth(root)
    mutate_bytes(root)


FORGED_SSHD = (
    "# vmguard test guest: a forged managed block below live settings\n"
    "Port 22\nPasswordAuthentication no\nPermitRootLogin yes\nX11Forwarding yes\n"
    "# BEGIN vmguard managed block (`vmguard apply --guest` rewrites it; sshd takes the first value it reads)\n"
    "PermitRootLogin no\nX11Forwarding no\n"
    "# END vmguard managed block\n"
    "AllowUsers vmadmin1\nUsePAM yes\nKbdInteractiveAuthentication no\n"
)


def mutate_forged(root: Path) -> None:
    images.write(root, "/etc/ssh/sshd_config", FORGED_SSHD)


ESC_NAME = "ev\x1b]0;pwned\x07il"
OSC52_LINK = "S99\x1b]52;c;cHduZWQ=\x07x"
LONG_LINE = b"#" + b"A" * 300_000 + b"\n"


def mutate_bytes(root: Path) -> None:
    """NUL bytes, CR/LF mixes, a 300 kB line in sshd_config; terminal escapes in an
    account's name and in a start link's name (shown by plan and apply)."""
    cfg = root / "etc/ssh/sshd_config"
    text = cfg.read_bytes().replace(b"Port 22\n", b"Port 22\r\n# nul \x00 byte\n" + LONG_LINE)
    cfg.write_bytes(text + b"Match User *\r\n\tPermitRootLogin yes\r\n")
    _append(root, "/etc/passwd", f"{ESC_NAME}:x:508:508::/home/e:/bin/sh\n".encode())
    _append(root, "/etc/shadow", f"{ESC_NAME}:{HASH}:19000:0:99999:7:::\n".encode())
    images.link(root, f"/etc/rc2.d/{OSC52_LINK}", "../init.d/telnetd")


def mutate_passwd(root: Path) -> None:
    """A NIS `+` line and a second `intruder` with uid 0 (its own shadow line too)."""
    _append(root, "/etc/passwd", b"+::::::\nintruder:x:0:0:duplicate name:/root:/bin/sh\n")
    _append(root, "/etc/shadow", f"intruder:{HASH}:19000:0:99999:7:::\n".encode())


def mutate_rcfile(root: Path) -> None:
    """Start scripts that are files, not symlinks: a copy in rc3.d, a hard link in rc4.d
    (SysV init runs any S* entry)."""
    images.write(root, "/etc/rc3.d/S30telnetd", "#!/bin/sh\n# the forbidden daemon\n", 0o755)
    os.link(root / "etc/init.d/telnetd", root / "etc/rc4.d/S31telnetd")


def mutate_pwauth(root: Path) -> None:
    """The most ordinary violation: sshd accepts passwords (VMG-USR-003), with UsePAM yes
    (the planted root already says yes: then this asserts it)."""
    cfg = root / "etc/ssh/sshd_config"
    text = cfg.read_bytes().replace(b"PasswordAuthentication no", b"PasswordAuthentication yes")
    assert b"PasswordAuthentication yes" in text and b"UsePAM yes" in text
    cfg.write_bytes(text)


def mutate_malformed(root: Path) -> None:
    """A passwd line with missing fields (glibc skips it; vmguard cannot tell what it is)."""
    _append(root, "/etc/passwd", b"brokenline:x:600\n")


def mutate_special(root: Path) -> None:
    """sshd_config is a FIFO (a read blocks forever), /etc/shadow a symlink loop, a passwd
    line with missing fields, xinetd's telnet a ../ symlink (each refused in run 1 alone
    or here together: any of them must leave the guest untouched)."""
    mutate_malformed(root)
    mutate_xinetd_link(root)
    (root / "etc/ssh/sshd_config").unlink()
    os.mkfifo(root / "etc/ssh/sshd_config")
    (root / "etc/shadow").unlink()
    images.link(root, "/etc/shadow", "shadow.loop")
    images.link(root, "/etc/shadow.loop", "shadow")


def mutate_xinetd_link(root: Path) -> None:
    """/etc/xinetd.d/telnet is a symlink climbing above / (../ x7) to the real, enabled file."""
    telnet = root / "etc/xinetd.d/telnet"
    images.write(root, "/etc/xinetd.real/telnet", telnet.read_text())
    telnet.unlink()
    images.link(root, "/etc/xinetd.d/telnet", "../../../../../../../etc/xinetd.real/telnet")


def mutate_links(root: Path) -> None:
    """Trust files and configs that are links to other guest files, to /proc, ../ paths, loops."""
    (root / "root/.rhosts").unlink()
    images.link(root, "/root/.rhosts", "/etc/passwd")
    (root / "etc/hosts.equiv").unlink()
    images.link(root, "/etc/hosts.equiv", "../../../../../../etc/ssh/sshd_config")
    images.link(root, "/etc/ssh/sshd_config.d/proc.conf", "/proc/self/mem")
    images.link(root, "/etc/sudoers.d/zz-shadow", "/etc/shadow")
    (root / "home/vmadmin1/.netrc").unlink()
    os.link(root / "etc/shadow", root / "home/vmadmin1/.netrc")  # a hard link to shadow
    os.link(root / "etc/passwd", root / "etc/passwd.hardlink")


# --- case steps -------------------------------------------------------------------


def qcow2_header(bait: Path, scratch: Path) -> bytes:
    """The first 1024 bytes of a qcow2 image whose backing file is `bait` (host path)."""
    made = scratch / "probe.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-u", "-f", "qcow2", "-b", str(bait), "-F", "raw", str(made), "64M"],
        check=True,
    )
    header = made.read_bytes()[:1024]
    made.unlink()
    return header


def plant_probe_header(image: Path, header: bytes) -> None:
    """The guest's root wrote a qcow2 header into its raw disk's first 1 KiB (ext4's
    unused boot block): a host that probes the format opens the backing file on the host."""
    with image.open("r+b") as f:
        f.write(header)


def step_fixable(lab: rig.Lab) -> dict:
    before = rig.sha256(lab.image)
    apply = lab.apply()
    after = rig.sha256(lab.image)
    applied = lab.work / "applied.img"
    subprocess.run(["cp", "--sparse=always", str(lab.image), str(applied)], check=True)
    audit = lab.audit()
    # A later change to the disk (as if the VM ran again), then rollback.
    subprocess.run(
        ["debugfs", "-w", "-R", "mkdir /vmg-later-change", str(lab.image)], capture_output=True, check=True
    )
    changed_again = rig.sha256(lab.image)
    files = {p: rig.guest_file(lab.image, p) for p in ("/etc/passwd", "/etc/shadow", "/etc/xinetd.conf")}
    rollback = lab.rollback()
    return dict(
        before=before, apply=apply, after=after, audit=audit, changed_again=changed_again,
        rollback=rollback, after_rollback=rig.sha256(lab.image), files=files, applied=applied,
    )  # fmt: skip


def step_apply_only(lab: rig.Lab) -> dict:
    before = rig.sha256(lab.image)
    apply = lab.apply()
    return dict(before=before, apply=apply, after=rig.sha256(lab.image))


def step_disk_full(lab: rig.Lab) -> dict:
    """The backup folder's file system is full: a 1 MiB tmpfs in a private mount namespace."""
    before = rig.sha256(lab.image)
    state = lab.work / "state"
    inner = 'mount -t tmpfs -o size=1m vmg-full "$0" && exec "$@"'
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", inner, str(state)]
    apply = lab.cli("apply", "-i", str(lab.work / "inv.yaml"), "--vm", lab.vm, "--guest", wrap=argv)
    return dict(before=before, apply=apply, after=rig.sha256(lab.image))


def step_disk_full_then_kill9(lab: rig.Lab) -> dict:
    """Both on one stopped domain: the refused apply (backup folder full) leaves the disk
    and the inspection cache as they were, then the apply killed mid-write."""
    full = step_disk_full(lab)
    return {**step_kill9(lab), "diskfull": full}


def appliance_pids(image: Path) -> list[int]:
    """qemu processes whose command line names the image (the appliance, or the VM)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu" in cmdline and str(image).encode() in cmdline:
            found.append(int(entry.name))
    return found


def _wait_for(predicate, timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def step_kill9(lab: rig.Lab) -> dict:
    """SIGKILL vmguard once the backup is complete (manifest written): mid-write."""
    before = rig.sha256(lab.image)
    proc = lab.popen("apply", "-i", str(lab.work / "inv.yaml"), "--vm", lab.vm, "--guest")
    backups = lab.work / "state" / "guest-backups"
    seen = _wait_for(lambda: any(backups.rglob("manifest.json")) or proc.poll() is not None, 600, 0.05)
    finished_first = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    leftovers = _wait_for(lambda: not appliance_pids(lab.image), 60)
    killed = rig.sha256(lab.image)
    fsck = subprocess.run(["e2fsck", "-fn", str(lab.image)], capture_output=True, text=True, check=False)
    rollback = lab.rollback()
    return dict(
        before=before, seen=seen, finished_first=finished_first, appliance_gone=leftovers,
        killed=killed, fsck=fsck.returncode, rollback=rollback, after_rollback=rig.sha256(lab.image),
    )  # fmt: skip


def step_backing_race(lab: rig.Lab, dom, golden: Path) -> dict:
    """qcow2 overlay on a host backing file; the VM is started while the apply runs."""
    golden_before = rig.sha256(golden)
    before = rig.sha256(lab.image)
    proc = lab.popen("apply", "-i", str(lab.work / "inv.yaml"), "--vm", lab.vm, "--guest")
    launched = _wait_for(lambda: bool(appliance_pids(lab.image)) or proc.poll() is not None, 600)
    time.sleep(3)
    try:
        dom.create()
        started = True
        start_error = ""
    except Exception as err:  # libvirt.libvirtError: the image lock held by the appliance
        started, start_error = False, str(err)
    out, err = proc.communicate(timeout=900)
    was_running = bool(dom.isActive())
    if was_running:
        dom.destroy()
    apply = rig.Result(tuple(proc.args), proc.returncode, out, err, 0.0)
    after = rig.sha256(lab.image)
    rollback = lab.rollback() if apply.code == 0 else None
    return dict(rollback=rollback, after_rollback=rig.sha256(lab.image),
        golden_before=golden_before, golden_after=rig.sha256(golden), before=before, launched=launched,
        started=started, start_error=start_error, was_running=was_running, apply=apply,
        after=after,
    )  # fmt: skip
