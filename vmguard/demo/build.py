"""Write a lab to a folder: the test-driver node XML, the policy and the inventory."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vmguard.demo.lab import DomainSpec, node_xml

CONNECTION = "lab"


@dataclass(frozen=True)
class Lab:
    root: Path

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

    def write_domains(self, domains: list[DomainSpec]) -> None:
        self.node.write_text(node_xml(domains), encoding="utf-8")


def _inventory(lab: Lab, entries: list[str]) -> str:
    vms = "".join(
        f'  - {{name: "{name}", connection: {CONNECTION}, policy: batch.yaml}}\n' for name in entries
    )
    return (
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: demo-lab}\n"
        f'connections:\n  - {{name: {CONNECTION}, driver: libvirt, uri: "test://{lab.node}",\n'
        "     host_only: {network: hostonly}}\n"
        f"vms:\n{vms}"
    )


def write_lab(root: Path, domains: list[DomainSpec], entries: list[str]) -> Lab:
    """A lab under `root`; `entries` are the inventory's VM names or globs."""
    lab = Lab(root)
    for sub in ("vmdata/input", "home"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    policy = resources.files("vmguard.demo").joinpath("files/batch.yaml").read_text("utf-8")
    lab.policy.write_text(policy.replace("@LAB@", str(root)), encoding="utf-8")
    lab.write_domains(domains)
    lab.inventory.write_text(_inventory(lab, entries), encoding="utf-8")
    return lab
