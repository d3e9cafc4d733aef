"""What an iptables listing saved for `rollback` may contain: only vmguard's own parts.

Pure (no firewall touched): iptables_restore.parse refuses a listing naming a chain, a
set or an nftables table vmguard does not own, before any tool runs.
"""

from __future__ import annotations

import pytest

from vmguard.core.errors import FirewallError
from vmguard.firewall.iptables_restore import NONE, parse

BRIDGE = 'table bridge vmguard {\n\tchain deny {\n\t\tdrop comment "a } in a string"\n\t}\n}\n'
GOOD = (
    "# iptables filter\n:VMG-INPUT - [0:0]\n"
    '-I INPUT 1 -m comment --comment "vmguard jump VMG-INPUT" -j VMG-INPUT\n'
    "-A VMG-INPUT -m set --match-set vmg-ids4 src,src -j RETURN\n"
    "# ip6tables filter\n# ipset\ncreate vmg-ids4 bitmap:ip,mac range 10.0.0.1-10.0.0.1\n"
    "add vmg-ids4 10.0.0.1,52:54:00:00:00:01\n# nftables (frames on the VM bridges)\n" + BRIDGE
)


def test_a_listing_of_vmguards_own_parts_is_read_by_section() -> None:
    listing = parse(GOOD)
    assert listing.v4[1].startswith("-I INPUT 1 ") and listing.v6 == ()
    assert len(listing.sets) == 2 and listing.bridge == BRIDGE
    assert parse(NONE) == parse(NONE.replace("#", "#")) and not parse(NONE).v4  # nothing was loaded


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("-A VMG-INPUT -m set", "-A INPUT -m set"),  # a rule in a built-in chain
        ("-I INPUT 1 -m comment", "-I INPUT 1 -j ACCEPT -m comment"),  # an ACCEPT put in INPUT
        (":VMG-INPUT - [0:0]", ":LIBVIRT_INP - [0:0]"),  # a foreign chain declared (flushed)
        ("add vmg-ids4 10.0.0.1", "add libvirt-set 10.0.0.1"),  # a foreign set
        ("add vmg-ids4 10.0.0.1,52:54:00:00:00:01", "destroy vmg-ids4"),
        ("\t}\n}\n", "\t}\n}\ntable inet filter { chain input { type filter hook input priority 0; accept; } }\n"),
        ("\t\tdrop comment", "\t} } table ip evil { chain c {\n\t\tdrop comment"),  # escape on one line
        ("# ipset\n", ""),  # a section missing
    ],
    ids=["builtin-rule", "jump-elsewhere", "foreign-chain", "foreign-set", "ipset-destroy",
         "nft-table", "nft-escape", "no-section"],
)  # fmt: skip
def test_anything_not_vmguards_makes_the_whole_listing_refused(old: str, new: str) -> None:
    assert old in GOOD  # control: the test changes a line that is there
    with pytest.raises(FirewallError):
        parse(GOOD.replace(old, new, 1))
