"""Write a lab to a folder: the test-driver node XML, the policy and the inventory."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

from vmguard.demo.lab import DomainSpec, node_xml
from vmguard.demo.vboxlab import HOST_ONLY, vbox_xml

CONNECTION = "lab"


class LabKind(StrEnum):
    LIBVIRT = "libvirt"  # libvirt's test driver: needs libvirt-python
    VBOX_FILE = "vbox-file"  # VirtualBox settings files, read offline: pure Python


@dataclass(frozen=True)
class Lab:
    root: Path
    kind: LabKind = LabKind.LIBVIRT

    @property
    def node(self) -> Path:
        return self.root / "node.xml"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yaml"

    @property
    def policy(self) -> Path:
        return self.root / "batch.yaml"

    def quarantine(self, vm: str) -> Path:
        return self.root / "vmdata" / "quarantine" / vm

    @property
    def vbox_folder(self) -> Path:
        return self.root / "vbox"

    def write_domains(self, domains: list[DomainSpec]) -> None:
        if self.kind is LabKind.LIBVIRT:
            self.node.write_text(node_xml(domains), encoding="utf-8")
            return
        self.vbox_folder.mkdir(exist_ok=True)
        for spec in domains:
            (self.vbox_folder / f"{spec.name}.vbox").write_text(vbox_xml(spec), encoding="utf-8")


def _connection(lab: Lab) -> str:
    if lab.kind is LabKind.LIBVIRT:
        return (
            f'  - {{name: {CONNECTION}, driver: libvirt, uri: "test://{lab.node}",\n'
            "     host_only: {network: hostonly}}\n"
        )
    return (
        f'  - {{name: {CONNECTION}, driver: vbox-file, path: "{lab.vbox_folder}/*.vbox",\n'
        f"     host_only: {{hostonly_interface: {HOST_ONLY}}}}}\n"
    )


def _inventory(lab: Lab, entries: list[str]) -> str:
    vms = "".join(
        f'  - {{name: "{name}", connection: {CONNECTION}, policy: batch.yaml}}\n' for name in entries
    )
    return (
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: demo-lab}\n"
        f"connections:\n{_connection(lab)}"
        f"vms:\n{vms}"
    )


def write_lab(
    root: Path, domains: list[DomainSpec], entries: list[str], kind: LabKind = LabKind.LIBVIRT
) -> Lab:
    """A lab under `root`; `entries` are the inventory's VM names or globs."""
    lab = Lab(root, kind)
    for sub in ("vmdata/input", "home"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    policy = resources.files("vmguard.demo").joinpath("files/batch.yaml").read_text("utf-8")
    lab.policy.write_text(policy.replace("@LAB@", str(root)), encoding="utf-8")
    lab.write_domains(domains)
    lab.inventory.write_text(_inventory(lab, entries), encoding="utf-8")
    return lab
