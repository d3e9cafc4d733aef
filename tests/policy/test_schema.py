"""Every schema rule: a failing example with its exact message, and a passing one."""

from __future__ import annotations

import pytest

from tests.policy.helpers import check, errors

# (name, failing body, expected "where: message", passing body)
CASES = [
    ("api-version", None, "apiVersion: 'v2' is not allowed (use 'vmguard/v1')", None),
    (
        "metadata-name",
        "metadata: {name: 'has space'}\n",
        "metadata.name: 'has space' is not valid (letters, digits, '.', '_' and '-', at most 63 characters)",
        "metadata: {name: ok-name}\n",
    ),
    ("unknown-top-key", "spek: {}\n", "(top level): unknown key 'spek' (did you mean 'spec'?)", "spec: {}\n"),
    (
        "extends-type",
        "extends: [a.yaml]\n",
        "extends: expected text, got a list (a path to the base policy, relative to this file)",
        None,
    ),
    (
        "mode",
        "spec: {network: {mode: bridged}}\n",
        "spec.network.mode: 'bridged' is not allowed (use "
        "'none' or 'host-only'); NAT and bridged networks are never allowed",
        "spec: {network: {mode: host-only}}\n",
    ),
    (
        "egress-needs-to",
        "spec: {network: {mode: host-only, egress: [{name: db, ports: [1]}]}}\n",
        "spec.network.egress[0]: missing required key 'to'",
        "spec: {network: {mode: host-only, egress: [{name: db, to: 192.0.2.1, ports: [1]}]}}\n",
    ),
    (
        "egress-to-text",
        "spec: {network: {mode: host-only, egress: [{name: db, to: db.example, ports: [1]}]}}\n",
        "spec.network.egress[0].to: 'db.example' is not valid (an address/network or a list of them)",
        None,
    ),
    (
        "port-zero",
        "spec: {network: {mode: host-only, egress: [{name: db, to: 192.0.2.1, ports: [0]}]}}\n",
        "spec.network.egress[0].ports[0]: 0 is not valid (a port from 1 to 65535, or a range such as '6000-6010')",
        "spec: {network: {mode: host-only, egress: [{name: db, to: 192.0.2.1, ports: ['6000-6010']}]}}\n",
    ),
    (
        "empty-ports",
        "spec: {network: {mode: host-only, egress: [{name: db, to: 192.0.2.1, ports: []}]}}\n",
        "spec.network.egress[0].ports: must not be empty",
        None,
    ),
    (
        "protocol",
        "spec: {network: {mode: host-only, egress: [{name: db, to: 192.0.2.1, ports: [1], "
        "protocol: sctp}]}}\n",
        "spec.network.egress[0].protocol: 'sctp' is not allowed (use 'tcp', 'udp' or 'icmp')",
        "spec: {network: {mode: host-only, egress: [{name: db, to: 192.0.2.1, ports: [1], protocol: udp}]}}\n",
    ),
    (
        "ingress-port-singular",
        "spec: {network: {mode: host-only, ingress: [{name: ssh, port: 22, from: 192.0.2.0/24}]}}\n",
        "spec.network.ingress[0]: unknown key 'port' (did you mean 'ports'?)",
        "spec: {network: {mode: host-only, ingress: [{name: ssh, ports: [22], from: 192.0.2.0/24}]}}\n",
    ),
    (
        "log-denied-type",
        "spec: {network: {log_denied: maybe}}\n",
        "spec.network.log_denied: expected true or false, got text",
        "spec: {network: {log_denied: false}}\n",
    ),
    (
        "share-relative",
        "spec: {shared_folders: {allow: [{name: in, host_path: data/in, access: read-only}]}}\n",
        "spec.shared_folders.allow[0].host_path: 'data/in' is not valid (an absolute host path starting with '/')",
        "spec: {shared_folders: {allow: [{name: in, host_path: /data/in, access: read-only}]}}\n",
    ),
    (
        "share-access",
        "spec: {shared_folders: {allow: [{name: in, host_path: /d, access: ro}]}}\n",
        "spec.shared_folders.allow[0].access: 'ro' is not allowed (use 'read-only' or 'read-write')",
        None,
    ),
    (
        "share-purpose",
        "spec: {shared_folders: {allow: [{name: in, host_path: /d, access: read-only, purpose: scratch}]}}\n",
        "spec.shared_folders.allow[0].purpose: 'scratch' is not allowed (use "
        "'input', 'output', 'software' or 'other')",
        None,
    ),
    (
        "automount-type",
        "spec: {shared_folders: {automount: 1}}\n",
        "spec.shared_folders.automount: expected true or false, got a number",
        "spec: {shared_folders: {automount: true}}\n",
    ),
    (
        "clipboard",
        "spec: {devices: {clipboard: open}}\n",
        "spec.devices.clipboard: 'open' is not allowed (use "
        "'disabled', 'host-to-guest', 'guest-to-host' or 'bidirectional')",
        "spec: {devices: {clipboard: disabled}}\n",
    ),
    (
        "yaml-boolean",
        "spec: {devices: {clipboard: off}}\n",
        "spec.devices.clipboard: YAML reads yes/no/on/off "
        "as true/false; write one of 'disabled', 'host-to-guest', 'guest-to-host' or 'bidirectional' (quote it "
        "if it must be a word)",
        None,
    ),
    (
        "usb",
        "spec: {devices: {usb: none}}\n",
        "spec.devices.usb: 'none' is not allowed (use 'disabled' or 'enabled')",
        "spec: {devices: {usb: enabled}}\n",
    ),
    (
        "remote-display",
        "spec: {devices: {remote_display: vnc}}\n",
        "spec.devices.remote_display: 'vnc' is not allowed (use 'disabled', 'localhost' or 'enabled')",
        "spec: {devices: {remote_display: localhost}}\n",
    ),
    (
        "username",
        "spec: {users: {interactive_login: [Alice]}}\n",
        "spec.users.interactive_login[0]: 'Alice' is not valid (a Unix user name such as vmadmin1)",
        "spec: {users: {interactive_login: [alice]}}\n",
    ),
    (
        "root-login-type",
        "spec: {users: {root_login: 'no way'}}\n",
        "spec.users.root_login: expected true or false, got text",
        "spec: {users: {root_login: true}}\n",
    ),
    (
        "ssh-knob",
        "spec: {users: {ssh: {x11forwarding: true}}}\n",
        "spec.users.ssh: unknown key 'x11forwarding' (did you mean 'x11_forwarding'?)",
        "spec: {users: {ssh: {x11_forwarding: true, tcp_forwarding: false}}}\n",
    ),
    (
        "file-scan-type",
        "spec: {software: {file_scan: sometimes}}\n",
        "spec.software.file_scan: expected true or false, got text",
        "spec: {software: {file_scan: false}}\n",
    ),
    (
        "software-name",
        "spec: {software: {forbid: ['fire fox']}}\n",
        "spec.software.forbid[0]: 'fire fox' is not valid",
        "spec: {software: {forbid: [firefox]}}\n",
    ),
    (
        "size",
        "spec: {quarantine: {max_file_size: 20 gigs}}\n",
        "spec.quarantine.max_file_size: '20 gigs' is "
        "not valid (a size such as 20GiB, 500MiB or 1048576 (bytes))",
        "spec: {quarantine: {max_file_size: 2GiB}}\n",
    ),
    (
        "max-files",
        "spec: {quarantine: {max_files: 0}}\n",
        "spec.quarantine.max_files: 0 is out of range",
        "spec: {quarantine: {max_files: 10}}\n",
    ),
    (
        "allow-types",
        "spec: {quarantine: {allow_types: [Text]}}\n",
        "spec.quarantine.allow_types[0]: 'Text' is "
        "not valid (a type name (text, csv, json, fits, hdf5, root, gzip, tar, zip), a MIME type such as text/plain or "
        "text/*, or {type: image/png, validate: head-only})",
        "spec: {quarantine: {allow_types: ['text/*', text]}}\n",
    ),
    (
        "forbid-kind",
        "spec: {quarantine: {forbid: [devices]}}\n",
        "spec.quarantine.forbid[0]: 'devices' is not "
        "allowed (use 'symlinks', 'hardlinks', 'special_files', 'setuid' or 'executables')",
        "spec: {quarantine: {forbid: [special_files]}}\n",
    ),
    (
        "scanner-command",
        "spec: {quarantine: {scanners: {command: {timeout: 5s}}}}\n",
        "spec.quarantine.scanners.command: missing required key 'argv'",
        "spec: {quarantine: {scanners: {command: {argv: [clamdscan, '{path}'], timeout: 5s}}}}\n",
    ),
    (
        "duration",
        "spec: {quarantine: {scanners: {clamd: {timeout: 5 minutes}}}}\n",
        "spec.quarantine.scanners.clamd.timeout: '5 minutes' is not valid (a duration such as 30s, 5m or 1h)",
        None,
    ),
    (
        "scanner-engine",
        "spec: {quarantine: {scanners: {clamav: {}}}}\n",
        "spec.quarantine.scanners: unknown key 'clamav' (did you mean 'clamd'?)",
        "spec: {quarantine: {scanners: {clamd: {}, yara: {}}}}\n",
    ),
    (
        "clamd-socket",
        "spec: {quarantine: {scanners: {clamd: {socket: clamd.ctl}}}}\n",
        "spec.quarantine.scanners.clamd.socket: 'clamd.ctl' is not valid (an absolute host path starting with '/')",
        "spec: {quarantine: {scanners: {clamd: {socket: /run/clamav/clamd.ctl, in_flight: 8}}}}\n",
    ),
    (
        "clamd-in-flight",
        "spec: {quarantine: {scanners: {clamd: {in_flight: 0}}}}\n",
        "spec.quarantine.scanners.clamd.in_flight: 0 is out of range",
        None,
    ),
    (
        "yara-rules",
        "spec: {quarantine: {scanners: {yara: {rules: [site.yar]}}}}\n",
        "spec.quarantine.scanners.yara.rules[0]: 'site.yar' is not valid (an absolute host path starting with '/')",
        "spec: {quarantine: {scanners: {yara: {rules: [], shipped: true}}}}\n",
    ),  # files: scanners/test_policy
    (
        "promote-mode",
        "spec: {quarantine: {promote: {mode: atomic}}}\n",
        "spec.quarantine.promote.mode: 'atomic' is not allowed (use 'all-or-nothing' or 'per-file')",
        "spec: {quarantine: {promote: {mode: per-file}}}\n",
    ),
    (
        "file-mode-setuid",
        "spec: {quarantine: {promote: {file_mode: 04755}}}\n",
        "spec.quarantine.promote.file_mode: 2541 is not valid (permission bits such as 0644 or '0644' "
        "(no setuid/setgid/sticky))",
        "spec: {quarantine: {promote: {file_mode: '0640'}}}\n",
    ),
    (
        "waiver-fields",
        "spec: {waivers: [{rule: VMG-DEV-001, vm: a}]}\n",
        "spec.waivers[0]: missing required key 'expires'",
        None,
    ),
    (
        "waiver-rule-id",
        "spec: {waivers: [{rule: clipboard, vm: a, justification: 'because we must', "
        "owner: bob, expires: 2030-01-01}]}\n",
        "spec.waivers[0].rule: 'clipboard' is not valid (a rule id such "
        "as VMG-DEV-001 (see `vmguard rules list`))",
        None,
    ),
]


@pytest.mark.parametrize(("name", "bad", "message", "good"), CASES, ids=[c[0] for c in CASES])
def test_schema_rule(tmp_path, name, bad, message, good):
    if name == "api-version":
        result = check(tmp_path, "apiVersion: v2\nkind: Policy\nmetadata: {name: t}\n", head=False)
    elif name == "metadata-name":
        result = check(tmp_path, "apiVersion: vmguard/v1\nkind: Policy\n" + bad, head=False)
        good = None
    else:
        result = check(tmp_path, bad)
    assert message in errors(result)
    if good is not None:
        passing = check(tmp_path, good)
        assert errors(passing) == [], errors(passing)


def test_every_problem_at_once_with_positions(tmp_path):
    result = check(
        tmp_path,
        """\
        spec:
          network: {mode: nat}
          devices: {usb: on, clipbord: disabled}
          users: {root_login: yes please}
        """,
    )
    lines = [(p.line, p.col) for p in result.problems]
    assert lines == [(5, 19), (6, 18), (6, 22), (7, 23)]


@pytest.mark.parametrize("name", ["policy.schema.json", "inventory.schema.json"])
def test_the_shipped_schemas_are_valid_json_schemas(name):
    """schema.validator does not check them at every run: this does."""
    import jsonschema

    from vmguard.core.schema import shipped_schema

    jsonschema.Draft202012Validator.check_schema(shipped_schema(name))
    broken = {**shipped_schema(name), "type": "no-such-type"}
    with pytest.raises(jsonschema.SchemaError):  # control: the check can fail
        jsonschema.Draft202012Validator.check_schema(broken)
