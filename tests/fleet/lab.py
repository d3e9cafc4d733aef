"""Two VM hosts' worth of site files, audited through libvirt's test driver.

Host a's VM follows the batch policy (NAT adapter and USB controller: 2 findings), host
b's a batch policy that allows USB (1 finding): hosts that differ, so a merge that
mixed them up would show.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
POLICY_OF = {"a": "batch.yaml", "b": "relaxed.yaml"}
RELAXED = """\
apiVersion: vmguard/v1
kind: Policy
metadata: {name: relaxed-usb, description: batch VMs that may keep their USB controller}
extends: batch.yaml
spec:
  devices:
    usb: enabled
"""


def write_site(root: Path) -> Path:
    """The site's policy folder with one inventory per host (inventory-<host>.yaml)."""
    policy = root / "policy"
    shutil.copytree(REPO / "policy", policy)
    (policy / "relaxed.yaml").write_text(RELAXED)
    for host, name in POLICY_OF.items():
        (policy / f"inventory-{host}.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "vmguard/v1",
                    "kind": "Inventory",
                    "metadata": {"name": host},
                    "connections": [
                        {
                            "name": "t",
                            "driver": "libvirt",
                            "uri": "test:///default",
                            "host_only": {"bridge": "virbr-hostonly"},
                        }
                    ],
                    "vms": [{"name": "test", "connection": "t", "policy": name}],
                }
            )
        )
    return policy
