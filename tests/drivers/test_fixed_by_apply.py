"""`fixed_by_apply` comes from the rule functions (declared `@fixes` beside them), not
from the catalog: the declaration matches what each rule yields, and every rule declared
fixed is cleared by `apply` on a real driver (a libvirt test:/// domain, defined and
never started, or the VirtualBox fake where libvirt has no such setting)."""

from __future__ import annotations

import pytest

from tests.audit import test_checks_devices, test_checks_network, test_checks_shares
from tests.audit.factory import policy
from tests.drivers.conftest import ISOLATED, batch_policy, no_network
from tests.drivers.test_converge import define
from tests.drivers.test_rules_converge import VBOXNET0, _vbox_machine
from tests.guest import test_rule_cases
from vmguard.audit.catalog import load_catalog
from vmguard.checks.registry import HOST_AREAS, INVENTORY_AREAS, fixed_by_apply, unit_of, units, violations
from vmguard.checks.unit import declares_fix, fixes
from vmguard.core.modes import RemoteDisplay, Toggle
from vmguard.drivers import facts_of
from vmguard.enforce.apply import apply_vm
from vmguard.facts.vm import VmFacts

VM_CONFIG_AREAS = frozenset({"NET", "FS", "DEV"})  # what `vmguard apply --vm` changes
CASES = [
    *((rule, pol, bad) for rule, pol, _good, bad in test_checks_devices.CASES),
    *((rule, pol, bad) for rule, pol, _good, bad in test_checks_network.CASES),
    *((rule, policy(), bad) for rule, _good, bad in test_checks_shares.CASES),
    *(
        (rule, test_rule_cases.STRICT, VmFacts("vm1", "libvirt", guest=bad))
        for rule, bad in test_rule_cases.CASES
    ),
]
BATCH = batch_policy(input_path="/srv/vmdata/input")
LOCAL_DISPLAY = batch_policy(remote_display=RemoteDisplay.LOCALHOST)
# rule -> (libvirt domain devices, policy): the rule fires on the domain as defined.
LIBVIRT = {
    "VMG-DEV-001": ("spice vdagent", BATCH),
    "VMG-DEV-002": ("spice vdagent", BATCH),
    "VMG-DEV-003": ("xhci", BATCH),
    "VMG-DEV-004": ("spice xhci redir", BATCH),
    "VMG-DEV-005": ("sound", BATCH),
    "VMG-DEV-007": ("vnc", LOCAL_DISPLAY),
    "VMG-DEV-008": ("spice", BATCH),
    "VMG-DEV-010": ("parallel", BATCH),
    "VMG-DEV-011": ("hostdev", BATCH),
    "VMG-DEV-012": ("agent", batch_policy(guest_agent=Toggle.DISABLED)),
    "VMG-FS-001": ("home", BATCH),
    "VMG-FS-002": ("home", BATCH),
    "VMG-FS-003": ("input_rw", BATCH),
    "VMG-FS-004": ("input_rw", BATCH),
    "VMG-NET-001": ("bridge", BATCH),
    "VMG-NET-002": ("nat", BATCH),
    "VMG-NET-003": ("user", BATCH),
    "VMG-NET-005": ("isolated", no_network(BATCH)),
}
# rule -> how the VirtualBox fake's machine differs from a compliant one, and the policy
# (libvirt has no display password vmguard could set, nor automount or NAT port forwards).
COMPLIANT = {
    "generation": 7, "clipboard": 0, "dnd": 0, "adapters": ["HostOnly"], "home_share": False,
    "input_share": "ro", "automount": False, "usb": False, "audio": False, "vrde": "off",
    "serial": "Disconnected", "parallel": False, "pci": False,
}  # fmt: skip
VBOX = {
    "VMG-DEV-006": ({"vrde": "open"}, LOCAL_DISPLAY),
    "VMG-DEV-009": ({"serial": "TCP"}, BATCH),
    "VMG-FS-005": ({"automount": True}, BATCH),
    "VMG-NET-004": ({"adapters": ["NAT"]}, BATCH),  # with a port forward on every host address
    "VMG-NET-006": ({"adapters": ["Internal"]}, BATCH),
    "VMG-NET-007": ({"adapters": ["HostOnly2"]}, BATCH),
}


def _fired(pol, facts: VmFacts) -> set[str]:
    return {rule for rule, _v in violations(units(), pol, facts)}


@pytest.mark.parametrize(("rule", "pol", "bad"), CASES, ids=[c[0] for c in CASES])
def test_the_declaration_matches_what_the_rule_yields(rule: str, pol, bad: VmFacts) -> None:
    """A VM rule's violations carry the VmFix exactly when it is declared fixed; a guest
    rule may declare a fix its violations do not carry (the guest plan's own fix), but
    one that yields a fix must declare it."""
    entry = load_catalog().get(rule)
    found = list(unit_of(entry)(pol, bad))
    carried = {v.fix is not None for v in found}
    assert found
    if entry.area in VM_CONFIG_AREAS:
        assert carried == {fixed_by_apply(entry)}
    else:
        assert carried == {False} or fixed_by_apply(entry)


def test_every_vm_rule_has_a_case() -> None:
    vm_rules = {r.id for r in load_catalog() if r.area not in HOST_AREAS | INVENTORY_AREAS | {"VET"}}
    assert vm_rules <= {c[0] for c in CASES}


def test_host_inventory_and_vet_rules_are_never_fixed_by_apply() -> None:
    other = [r for r in load_catalog() if r.area in HOST_AREAS | INVENTORY_AREAS | {"VET"}]
    assert other and not any(map(fixed_by_apply, other))


def test_every_rule_apply_fixes_has_a_driver_fixture() -> None:
    fixed = {r.id for r in load_catalog() if fixed_by_apply(r) and r.area in VM_CONFIG_AREAS}
    assert fixed == set(LIBVIRT) | set(VBOX)
    assert not set(LIBVIRT) & set(VBOX)


def test_the_declaration_is_explicit() -> None:
    """Control: an undeclared function is not fixed by apply, whatever it yields."""

    def rule(pol, facts):  # pragma: no cover - never called
        return iter(())

    assert not declares_fix(rule)
    assert declares_fix(fixes(rule))


@pytest.mark.parametrize("rule", sorted(LIBVIRT))
def test_apply_clears_the_rule_on_libvirt(rule: str, testnode_uri: str, log_path, events) -> None:
    pytest.importorskip("libvirt")
    from vmguard.drivers.libvirt.driver import LibvirtDriver

    pieces, pol = LIBVIRT[rule]
    driver = LibvirtDriver(testnode_uri)
    try:
        define(driver, "fix", pieces.split())
        assert rule in _fired(pol, facts_of(driver, "fix", ISOLATED))
        apply_vm(driver, "t", "fix", pol, host_only=ISOLATED, events=events)
        assert rule not in _fired(pol, facts_of(driver, "fix", ISOLATED))
    finally:
        driver.close()


@pytest.mark.parametrize("rule", sorted(VBOX))
def test_apply_clears_the_rule_on_virtualbox(rule: str, log_path, events) -> None:
    pytest.importorskip("virtualbox")
    from virtualbox import library as lib

    from tests.drivers import fake_pyvbox as fake
    from vmguard.drivers.vbox.driver import VirtualBoxDriver

    changes, pol = VBOX[rule]
    machine = _vbox_machine(COMPLIANT | changes)
    machine._adapters[0].nat_engine.redirects.append("ssh,1,,2222,,22")  # only NAT uses it
    vbox = fake.FakeVirtualBox("7.2.4")
    vbox._add(machine)
    driver = VirtualBoxDriver(vbox, fake.FakeSession, lib)
    assert rule in _fired(pol, facts_of(driver, "prop", VBOXNET0))
    apply_vm(driver, "t", "prop", pol, host_only=VBOXNET0, events=events)
    assert _fired(pol, facts_of(driver, "prop", VBOXNET0)) == set()
