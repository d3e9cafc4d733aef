"""Every semantic check: a failing example with its message, and a passing one."""

from __future__ import annotations

import pytest

from tests.policy.helpers import check, errors, warnings

NET = "spec:\n  network:\n    mode: host-only\n"
SHARE = "spec:\n  shared_folders:\n    allow:\n"

# (name, failing body, expected "where: message", passing body, is-warning)
CASES = [
    (
        "share-under-forbidden-root",
        SHARE + "      - {name: h, host_path: /u/alice/data, access: read-only}\n"
        "    forbid_host_paths: [/u]\n",
        "spec.shared_folders.allow[0].host_path: '/u/alice/data' is under the forbidden host path '/u' "
        "(share a dedicated directory such as /vmdata/...)",
        SHARE + "      - {name: h, host_path: /vmdata/u, access: read-only}\n    forbid_host_paths: [/u]\n",
        False,
    ),
    (
        "share-system-root-by-traversal",
        SHARE + "      - {name: h, host_path: /vmdata/../etc, access: read-only}\n",
        "spec.shared_folders.allow[0].host_path: '/vmdata/../etc' is under the forbidden host path '/etc' "
        "(share a dedicated directory such as /vmdata/...)",
        None,
        False,
    ),
    (
        "share-host-root",
        SHARE + "      - {name: h, host_path: /, access: read-only}\n",
        "spec.shared_folders.allow[0].host_path: sharing the host's root directory is never allowed",
        None,
        False,
    ),
    (
        "input-read-write",
        SHARE + "      - {name: in, host_path: /vmdata/in, access: read-write, purpose: input}\n",
        "spec.shared_folders.allow[0].access: shares for input must be read-only (a guest could alter what "
        "other jobs read)",
        SHARE + "      - {name: in, host_path: /vmdata/in, access: read-only, purpose: input}\n",
        False,
    ),
    (
        "output-read-only",
        SHARE + "      - {name: out, host_path: '/vmdata/q/{vm}', access: read-only, purpose: output}\n",
        "spec.shared_folders.allow[0].access: an output share must be read-write (jobs write into it)",
        SHARE + "      - {name: out, host_path: '/vmdata/q/{vm}', access: read-write, purpose: output}\n",
        False,
    ),
    (
        "output-shared-between-vms",
        SHARE + "      - {name: out, host_path: /vmdata/q, access: read-write, purpose: output}\n",
        "spec.shared_folders.allow[0].host_path: an output share should contain {vm} so each VM has its own "
        "quarantine (VMs could tamper with each other's output)",
        None,
        True,
    ),
    (
        "duplicate-share-name",
        SHARE + "      - {name: a, host_path: /vmdata/a, access: read-only}\n"
        "      - {name: a, host_path: /vmdata/b, access: read-only}\n",
        "spec.shared_folders.allow[1].name: duplicate name 'a' (each must be unique)",
        None,
        False,
    ),
    (
        "duplicate-share-path",
        SHARE + "      - {name: a, host_path: /vmdata/a, access: read-only}\n"
        "      - {name: b, host_path: /vmdata/a/, access: read-only}\n",
        "spec.shared_folders.allow[1].host_path: duplicate host_path '/vmdata/a' (each must be unique)",
        None,
        False,
    ),
    (
        "duplicate-egress-name",
        NET
        + "    egress:\n      - {name: db, to: 192.0.2.1, ports: [1]}\n      - {name: db, to: 192.0.2.2, ports: [1]}\n",
        "spec.network.egress[1].name: duplicate name 'db' (each must be unique)",
        NET
        + "    egress:\n      - {name: db, to: 192.0.2.1, ports: [1]}\n      - {name: db2, to: 192.0.2.2, ports: [1]}\n",
        False,
    ),
    (
        "placeholder-unknown",
        SHARE + "      - {name: out, host_path: '/vmdata/q/{vmname}', access: read-write, purpose: output}\n",
        "spec.shared_folders.allow[0].host_path: unknown placeholder {vmname} (use {vm})",
        None,
        False,
    ),
    (
        "placeholder-in-name",
        SHARE + "      - {name: '{vm}', host_path: '/vmdata/q/{vm}', access: read-write, purpose: output}\n",
        "spec.shared_folders.allow[0].name: '{vm}' is not valid (letters, digits, '.', '_' and '-', at most 63 "
        "characters)",
        None,
        False,
    ),
    (
        "placeholder-in-forbid",
        "spec:\n  shared_folders:\n    forbid_host_paths: ['/home/{vm}']\n",
        "spec.shared_folders.forbid_host_paths[0]: unknown placeholder {vm} (no placeholder is expanded here)",
        None,
        False,
    ),
    (
        "placeholder-job-in-share",
        SHARE + "      - {name: out, host_path: '/vmdata/q/{job}', access: read-write, purpose: output}\n",
        "spec.shared_folders.allow[0].host_path: unknown placeholder {job} (use {vm})",
        None,
        False,
    ),
    (
        "mode-none-with-egress",
        "spec:\n  network:\n    mode: none\n    egress: [{name: db, to: 192.0.2.1, ports: [1]}]\n",
        "spec.network.mode: mode is 'none' but egress/ingress entries are listed (a VM without network cannot "
        "use them; use 'host-only')",
        None,
        False,
    ),
    (
        "host-bits",
        NET + "    egress: [{name: db, to: 192.0.2.1/24, ports: [1]}]\n",
        "spec.network.egress[0].to: '192.0.2.1/24' has host bits set (did you mean '192.0.2.0/24'?)",
        NET + "    egress: [{name: db, to: 192.0.2.0/24, ports: [1]}]\n",
        False,
    ),
    (
        "not-an-address",
        NET + "    egress: [{name: db, to: '1.2.3.4.5', ports: [1]}]\n",
        "spec.network.egress[0].to: '1.2.3.4.5' is not an IP address or network",
        None,
        False,
    ),
    (
        "reversed-range",
        NET + "    egress: [{name: db, to: 192.0.2.1, ports: ['6010-6000']}]\n",
        "spec.network.egress[0].ports[0]: '6010-6000' is not a port range from 1 to 65535, low-high",
        None,
        False,
    ),
    (
        "range-too-high",
        NET + "    egress: [{name: db, to: 192.0.2.1, ports: ['6000-70000']}]\n",
        "spec.network.egress[0].ports[0]: '6000-70000' is not a port range from 1 to 65535, low-high",
        None,
        False,
    ),
    (
        "icmp-with-ports",
        NET + "    egress: [{name: p, to: 192.0.2.1, ports: [1], protocol: icmp}]\n",
        "spec.network.egress[0].ports: icmp has no ports (remove 'ports')",
        NET + "    egress: [{name: p, to: 192.0.2.1, protocol: icmp}]\n",
        False,
    ),
    (
        "tcp-without-ports",
        NET + "    egress: [{name: db, to: 192.0.2.1}]\n",
        "spec.network.egress[0]: 'db' lists no ports (add e.g. ports: [443])",
        None,
        False,
    ),
    (
        "everything",
        NET + "    egress: [{name: all, to: 0.0.0.0/0, ports: [443]}]\n",
        "spec.network.egress[0]: 'all' allows every address (0.0.0.0/0); name the hosts",
        None,
        False,
    ),
    (
        "loopback",
        NET + "    egress: [{name: lo, to: 127.0.0.1, ports: [631]}]\n",
        "spec.network.egress[0]: 'lo' reaches loopback (127.0.0.1/32): a VM must never reach the host's local "
        "services",
        None,
        False,
    ),
    (
        "overlap",
        NET + "    egress:\n      - {name: a, to: 192.0.2.0/24, ports: [1-100]}\n"
        "      - {name: b, to: 192.0.2.7, ports: [50]}\n",
        "spec.network.egress[0]: 'a' overlaps 'b' (same addresses, protocol and ports; merge them)",
        NET + "    egress:\n      - {name: a, to: 192.0.2.0/24, ports: [1-100]}\n"
        "      - {name: b, to: 192.0.2.7, ports: [101]}\n",
        True,
    ),
    (
        "root-contradiction",
        "spec:\n  users: {interactive_login: [root], root_login: false}\n",
        "spec.users.interactive_login: root is listed for interactive login but root_login is false (remove "
        "root, or set root_login: true)",
        "spec:\n  users: {interactive_login: [root], root_login: true}\n",
        False,
    ),
    (
        "x11-carries-clipboard",
        "spec:\n  users: {ssh: {x11_forwarding: true}}\n",
        "spec.users.ssh.x11_forwarding: X11 forwarding carries the X clipboard out of the VM, and "
        "devices.clipboard is disabled (set x11_forwarding: false, or allow a clipboard direction)",
        "spec:\n  users: {ssh: {x11_forwarding: true}}\n  devices: {clipboard: guest-to-host}\n",
        True,
    ),
    (
        "file-scan-off",
        "spec:\n  software: {file_scan: false}\n",
        "spec.software.file_scan: the permission scan is off: world-writable and stray set-id files in the "
        "guest go unseen (VMG-SW-004, VMG-SW-005)",
        "spec:\n  software: {file_scan: true}\n",
        True,
    ),
    (
        "file-bigger-than-total",
        "spec:\n  quarantine: {max_file_size: 2GiB, max_total_size: 1GiB}\n",
        "spec.quarantine.max_file_size: max_file_size is larger than max_total_size",
        "spec:\n  quarantine: {max_file_size: 1GiB, max_total_size: 2GiB}\n",
        False,
    ),
    (
        "no-types",
        "spec:\n  quarantine: {allow_types: []}\n",
        "spec.quarantine.allow_types: no content type is allowed: nothing can be promoted",
        None,
        True,
    ),
    (
        "executables-allowed",
        "spec:\n  quarantine: {forbid: [symlinks]}\n",
        "spec.quarantine.forbid: executables are not forbidden: a compromised guest could publish programs",
        "spec:\n  quarantine: {forbid: [executables]}\n",
        True,
    ),
    (
        "public-overlaps-share",
        SHARE + "      - {name: out, host_path: '/data/{vm}', access: read-write, purpose: output}\n"
        "  quarantine: {promote: {to: '/data/{vm}/public'}}\n",
        "spec.quarantine.promote.to: the public area overlaps the share 'out' (/data/{vm}): a guest could write "
        "past the vetting",
        None,
        False,
    ),
    (
        "world-writable-public",
        "spec:\n  quarantine: {promote: {file_mode: 0666}}\n",
        "spec.quarantine.promote.file_mode: promoted files would be group- or world-writable",
        None,
        True,
    ),
    (
        "expired-waiver",
        "spec:\n  waivers: [{rule: VMG-DEV-001, vm: a, justification: 'legacy display need', "
        "owner: bob, expires: 2001-01-01}]\n",
        "spec.waivers[0].expires: waiver for VMG-DEV-001 on 'a' expired on 2001-01-01 (renew or remove it)",
        None,
        True,
    ),
]


@pytest.mark.parametrize(("name", "bad", "message", "good", "warn"), CASES, ids=[c[0] for c in CASES])
def test_semantic_check(tmp_path, name, bad, message, good, warn):
    result = check(tmp_path, bad)
    assert message in (warnings(result) if warn else errors(result))
    assert (result.policy is not None) == warn
    if good is not None:
        passing = check(tmp_path, good)
        assert errors(passing) == [] and warnings(passing) == []


def test_unknown_waiver_rule_is_an_error(tmp_path):
    body = (
        "spec:\n  waivers: [{rule: VMG-XYZ-999, vm: a, justification: 'legacy display need', "
        "owner: bob, expires: 2099-01-01}]\n"
    )
    result = check(tmp_path, body)
    assert "spec.waivers[0].rule: unknown rule 'VMG-XYZ-999' (see `vmguard rules list`)" in errors(result)
