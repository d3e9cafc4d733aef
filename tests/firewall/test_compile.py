"""Compiling policy + inventory into the abstract ruleset, and the pure audit comparison."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmguard.checks.registry import host_checks
from vmguard.core.errors import FirewallError, InventoryError
from vmguard.firewall.audit import DriftKind, FirewallAudit, RulesetDrift, compare
from vmguard.firewall.compile import compile_ruleset
from vmguard.firewall.interface import FirewallRule, Hook, RulesetSnapshot
from vmguard.firewall.model import Ruleset
from vmguard.firewall.nftables_elements import vm_elements
from vmguard.firewall.nftables_render import render
from vmguard.inventory.model import Connection, DriverKind, FirewallSettings, Inventory, VmEntry
from vmguard.policy.model import (
    Egress,
    Ingress,
    Metadata,
    NetworkMode,
    NetworkPolicy,
    Policy,
    PortRange,
)

NET = ipaddress.ip_network
ADDR = ipaddress.ip_address
CALIB = Egress("calib-db", (NET("192.0.2.10/32"),), (PortRange(3306, 3306),))
CVS6 = Egress("cvs6", (NET("2001:db8::20/128"),), (PortRange(2401, 2401),))
SSH = Ingress("admin-ssh", (PortRange(22, 22),), (NET("198.51.100.0/24"),))


def policy(*egress: Egress, mode: NetworkMode = NetworkMode.HOST_ONLY) -> Policy:
    return Policy(Metadata("p"), "p.yaml", network=NetworkPolicy(mode, egress, (SSH,)))


def entry(
    name: str,
    *addrs: str,
    mac: str = "52:54:00:00:00:01",
    pol: Policy | None = None,
    origin: str = "inv.yaml:7:5",
) -> VmEntry:
    return VmEntry(name, "kvm", pol or policy(CALIB), tuple(ADDR(a) for a in addrs), mac, origin=origin)


def inventory(*vms: VmEntry, ifaces: tuple[str, ...] = ("virbr1",)) -> Inventory:
    return Inventory(
        "inv.yaml", (Connection("kvm", DriverKind.LIBVIRT),), vms, FirewallSettings(vm_interfaces=ifaces)
    )


def test_addressed_entries_get_rules_and_globs_without_address_do_not() -> None:
    rs = compile_ruleset(inventory(entry("batch-01", "10.7.0.11"), entry("batch-*")))
    assert [vm.name for vm in rs.vms] == ["batch-01"]
    vm = rs.vms[0]
    assert vm.egress[0].name == "calib-db" and vm.ingress[0].name == "admin-ssh"
    assert not vm.ipv6


def test_network_mode_none_allows_nothing_whatever_it_lists() -> None:
    rs = compile_ruleset(inventory(entry("a", "10.7.0.11", pol=policy(CALIB, mode=NetworkMode.NONE))))
    assert rs.vms[0].egress == () and rs.vms[0].ingress == ()


def test_ipv6_only_when_the_policy_names_an_ipv6_endpoint() -> None:
    rs = compile_ruleset(inventory(entry("a", "10.7.0.11", "2001:db8::11", pol=policy(CVS6))))
    assert rs.vms[0].ipv6
    assert "52:54:00:00:00:01" in render(rs).split("set v6_macs")[1].split("}")[0]


@pytest.mark.parametrize(
    ("vms", "ifaces", "message"),
    [
        ((entry("a", "10.7.0.11", mac=""),), ("virbr1",), "no 'mac'"),
        (
            (entry("a", "10.7.0.11"), entry("b", "10.7.0.11", mac="52:54:00:00:00:02")),
            ("virbr1",),
            "10.7.0.11 is also claimed by a",
        ),
        (
            (entry("a", "10.7.0.11"), entry("b", "10.7.0.12")),
            ("virbr1",),
            "52:54:00:00:00:01 is also claimed by a",
        ),
        ((entry("a", "10.7.0.11"),), (), "vm_interfaces"),
    ],
)
def test_inventory_mistakes_are_located_problems(vms, ifaces, message) -> None:
    with pytest.raises(InventoryError) as err:
        compile_ruleset(inventory(*vms, ifaces=ifaces))
    assert message in str(err.value)
    assert str(err.value).startswith("inv.yaml:")


def test_rendered_sets_name_the_vm_and_endpoint() -> None:
    text = render(compile_ruleset(inventory(entry("a", "10.7.0.11"))))
    assert '10.7.0.11 . tcp . 192.0.2.10 . 3306 comment "a: calib-db"' in text
    assert '10.7.0.11 . tcp . 198.51.100.0/24 . 22 comment "a: admin-ssh"' in text
    assert "@out4 return" in text and "policy accept" in text


def test_overlapping_endpoints_keep_only_the_covering_one() -> None:
    wide = Egress("wide", (NET("192.0.2.0/24"),), (PortRange(20, 30),))
    narrow = Egress("narrow", (NET("192.0.2.0/25"),), (PortRange(22, 22),))
    elements = vm_elements(
        compile_ruleset(inventory(entry("a", "10.7.0.11", pol=policy(narrow, wide)))).vms[0]
    )
    assert elements["out4_net"] == ['10.7.0.11 . tcp . 192.0.2.0/24 . 20-30 comment "a: wide"']


def test_partly_overlapping_endpoints_are_refused_clearly() -> None:
    one = Egress("one", (NET("192.0.2.0/24"),), (PortRange(22, 22),))
    two = Egress("two", (NET("192.0.2.0/25"),), (PortRange(22, 30),))
    with pytest.raises(FirewallError, match="'one' and 'two' overlap partly"):
        vm_elements(compile_ruleset(inventory(entry("a", "10.7.0.11", pol=policy(one, two)))).vms[0])


names = st.text(st.characters(codec="ascii", exclude_characters=' "/\\\n'), min_size=1, max_size=30)


@given(st.lists(names, min_size=1, max_size=5, unique=True))
def test_ruleset_round_trips_through_json(vm_names: list[str]) -> None:
    vms = [entry(n, f"10.7.0.{i + 1}", mac=f"52:54:00:00:00:{i + 1:02x}") for i, n in enumerate(vm_names)]
    rs = compile_ruleset(inventory(*vms))
    assert Ruleset.from_dict(rs.to_dict()) == rs
    assert len({vm.ident for vm in rs.vms}) == len(vm_names)


def snap(*rules: FirewallRule, hooks: tuple[Hook, ...] = (), elems: frozenset[str] = frozenset({"a"})):
    return RulesetSnapshot(True, {"c": rules}, {"s": elems}, hooks)


def test_compare_names_every_difference() -> None:
    want = snap(FirewallRule("x", "1"), FirewallRule("y", "2"), hooks=(Hook("fwd", "j"),))
    have = snap(
        FirewallRule("x", "1b"),
        FirewallRule("z", "3"),
        hooks=(Hook("fwd", "j", True, ("acc",)),),
        elems=frozenset({"b"}),
    )
    kinds = {d.kind for d in compare(want, have)}
    assert kinds == {
        DriftKind.RULE_MODIFIED,
        DriftKind.RULE_MISSING,
        DriftKind.RULE_EXTRA,
        DriftKind.JUMP_SHADOWED,
        DriftKind.SET_ELEMENTS_MISSING,
        DriftKind.SET_ELEMENTS_EXTRA,
    }
    assert compare(want, want) == ()
    assert [d.kind for d in compare(want, RulesetSnapshot(False))] == [DriftKind.TABLE_MISSING]


def test_every_drift_kind_becomes_exactly_one_fw_finding() -> None:
    for kind in DriftKind:
        audit = FirewallAudit("nftables", (RulesetDrift(kind, "forward", "detail"),), 2)
        rules = [f.rule for check in host_checks().values() for f in check(None, audit)]
        assert len(rules) == 1, kind
        assert rules[0].startswith("VMG-FW-")
    bridged = FirewallAudit("nftables", (), 2, ("virbr1: net.bridge.bridge-nf-call-ip6tables is not 1",))
    found = [f for check in host_checks().values() for f in check(None, bridged)]
    assert [(f.rule, f.subject) for f in found] == [("VMG-FW-005", "host")]
    assert "bridge-nf-call-ip6tables" in found[0].message
    assert found[0].evidence.startswith("/proc/sys/net/bridge/bridge-nf-call-ip6tables")
    assert not [f for check in host_checks().values() for f in check(None, FirewallAudit("x", (), 0))]


@pytest.mark.parametrize(
    ("addrs", "logged"),
    [
        (("10.7.0.11",), {"log4": ["10.7.0.11"]}),
        (("2001:db8::11",), {"log6": ["2001:db8::11"]}),
        (("10.7.0.11", "2001:db8::11"), {"log4": ["10.7.0.11"], "log6": ["2001:db8::11"]}),
    ],
)
def test_denied_traffic_is_logged_for_every_family_of_the_vm(
    addrs: tuple[str, ...], logged: dict[str, list[str]]
) -> None:
    elements = vm_elements(compile_ruleset(inventory(entry("a", *addrs, pol=policy(CVS6)))).vms[0])
    assert {s: e for s, e in elements.items() if s.startswith("log")} == logged


def test_ipv6_vms_may_send_from_their_eui64_link_local_address() -> None:
    vm = compile_ruleset(inventory(entry("a", "2001:db8::11", pol=policy(CVS6)))).vms[0]
    assert [str(a) for a in vm.sources_of(6)] == ["2001:db8::11", "fe80::5054:ff:fe00:1"]
    assert vm_elements(vm)["ids6"][1].startswith("fe80::5054:ff:fe00:1 . 52:54:00:00:00:01")


def test_conntrack_judges_a_flow_by_the_senders_egress_and_the_receivers_ingress() -> None:
    from vmguard.firewall.conntrack import Tracked, allows

    a = entry(
        "a",
        "10.7.0.11",
        mac="52:54:00:00:00:0a",
        pol=policy(CALIB, Egress("to-b", (NET("10.7.0.12/32"),), (PortRange(22, 22),))),
    )
    b = entry("b", "10.7.0.12", mac="52:54:00:00:00:0b")
    rs = compile_ruleset(inventory(a, b))
    flow = lambda src, dst, port, proto="tcp": Tracked("ipv4", proto, ADDR(src), ADDR(dst), 1, port)  # noqa: E731
    assert allows(rs, flow("10.7.0.11", "192.0.2.10", 3306))
    assert not allows(rs, flow("10.7.0.11", "192.0.2.10", 3307))
    assert not allows(rs, flow("10.7.0.11", "192.0.2.10", 3306, "udp"))
    assert not allows(rs, flow("10.7.0.11", "10.7.0.12", 22)), "b's ingress is admin-ssh only"
    assert allows(rs, flow("198.51.100.7", "10.7.0.12", 22))
    assert allows(rs, flow("198.51.100.7", "192.0.2.1", 80)), "no VM end: not ours to judge"


@pytest.mark.parametrize(("group", "nft", "ipt"), [(None, "level warn", "-j LOG"), (7, "group 7", "NFLOG")])
def test_denied_traffic_goes_to_the_kernel_log_or_the_inventorys_nflog_group(group, nft, ipt) -> None:
    from vmguard.firewall.iptables_rules import as_text, chains_v4

    inv = inventory(entry("a", "10.7.0.11"))
    inv = Inventory(
        inv.source, inv.connections, inv.vms, FirewallSettings(vm_interfaces=("virbr1",), log_group=group)
    )
    rs = compile_ruleset(inv)
    assert Ruleset.from_dict(rs.to_dict()) == rs and rs.log_group == group
    logs = [line for line in render(rs).splitlines() if " log prefix " in line]
    assert len(logs) >= 4 and all(nft in line for line in logs), logs  # spoofed, out, in, frames
    ipt_logs = [
        as_text(r) for rules in chains_v4(rs).values() for r in rules if "log" in r["comment"]["comment"]
    ]
    assert len(ipt_logs) == 3 and all(ipt in line for line in ipt_logs), ipt_logs
    assert group is None or all(f"--nflog-group {group}" in line for line in ipt_logs)
