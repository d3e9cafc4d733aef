"""Online inspection through a real QEMU guest agent (TCG guest of tests/support), and
hostile answers: oversized, malformed, mistyped, slow."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import struct
import time

import pytest

from tests.guest.conftest import sha256, vm_facts
from tests.support.guest_image import CACHE_ROOT
from vmguard.checks.registry import vm_checks
from vmguard.facts.vm import Channel, PowerState
from vmguard.guest import inspect
from vmguard.guest.agent import (
    MAX_FILE,
    MAX_REPLY,
    AgentError,
    AgentSession,
    LibvirtAgent,
    parse_proc_net,
    parse_reply,
    read_file,
    read_online,
)
from vmguard.guest.cache import GuestCache, cache_key
from vmguard.guest.model import GuestFacts
from vmguard.policy.model import Metadata, Policy, SoftwarePolicy, UsersPolicy

CHECKS = vm_checks("guest")

pytestmark = [pytest.mark.root, pytest.mark.slow]
DISK_XML = """    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{path}'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
"""
USER_PROCESS = 7


def utmp_record(user: str, line: str = "pts/0") -> bytes:
    """One glibc x86_64 `struct utmp` (384 bytes) of a logged-in user."""
    return struct.pack(
        "<hxxi32s4s32s256shhiii16s20s",
        USER_PROCESS,
        4242,
        line.encode(),
        b"ts/0",
        user.encode(),
        b"203.0.113.9",
        0,
        0,
        0,
        int(time.time()),
        0,
        b"",
        b"",
    )


def write_guest_file(domain, path: str, data: bytes) -> None:
    handle = domain.agent("guest-file-open", {"path": path, "mode": "w"})
    domain.agent("guest-file-write", {"handle": handle, "buf-b64": base64.b64encode(data).decode()})
    domain.agent("guest-file-close", {"handle": handle})


def guest_run(domain, *argv: str) -> None:
    pid = domain.agent("guest-exec", {"path": "/bin/busybox", "arg": list(argv)})["pid"]
    for _ in range(100):
        if domain.agent("guest-exec-status", {"pid": pid})["exited"]:
            return
        time.sleep(0.1)


@pytest.fixture(scope="module")
def running(tcg_domain_module, guest_images):
    """A booted TCG guest with the Debian test image as its second, writable disk, a
    user logged in (utmp) and a telnetd listening: what a compromised VM looks like."""
    folder = CACHE_ROOT / "guest-disks"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # libvirt's qemu user must reach the image
    image = folder / f"running-{time.monotonic_ns()}.img"
    shutil.copyfile(guest_images["dpkg"], image)
    try:
        domain = tcg_domain_module.start(extra_devices=DISK_XML.format(path=image))
        write_guest_file(domain, "/var/run/utmp", utmp_record("mallory"))
        guest_run(domain, "telnetd", "-p", "2323")
        yield domain, image
    finally:
        tcg_domain_module.cleanup()
        image.unlink(missing_ok=True)


def test_real_agent_users_and_listening_sockets(running):
    domain, _ = running
    online = read_online(LibvirtAgent(domain.dom))
    assert online.problems == ()
    assert [u.name for u in online.users] == ["mallory"]
    telnet = [s for s in online.sockets if s.port == 2323]
    assert telnet and telnet[0].address in ("0.0.0.0", "::")  # noqa: S104 (read, not bound)
    assert str(telnet[0].source).startswith("/proc/net/tcp")


def test_running_vm_inspected_through_a_read_only_overlay(running, tmp_path):
    domain, image = running
    before = sha256(image)
    agent_channel = Channel("qemu-ga", "org.qemu.guest_agent.0")
    vm = dataclasses.replace(vm_facts(domain.name, image, PowerState.RUNNING), channels=(agent_channel,))
    # The agent is found through libvirt by the VM's name, as the audit will do it.
    facts = inspect(vm, online=True, libvirt_uri="qemu:///system", cache=GuestCache(tmp_path), timeout=300)
    assert sha256(image) == before
    print(f"\nrunning VM: offline {facts.seconds:.1f} s")
    assert "firefox-esr" in {p.name for p in facts.packages}
    policy = Policy(Metadata("p"), "p.yaml", users=UsersPolicy(("vmadmin1",)), software=SoftwarePolicy())
    vm = dataclasses.replace(vm, guest=facts)
    rules = {(f.rule, f.evidence) for check in CHECKS.values() for f in check(policy, vm)}
    assert ("VMG-USR-004", "logged-in user 'mallory'") in rules
    assert ("VMG-SW-003", "listening tcp port 2323") in rules


def test_no_agent_channel_no_online_facts(running, tmp_path):
    domain, image = running
    vm = vm_facts(domain.name, image, PowerState.RUNNING)  # its facts show no qemu-ga channel
    cache = GuestCache(tmp_path)
    cache.put(
        cache_key([(str(image), "raw")], True), GuestFacts()
    )  # skip the appliance (scan on: the default)
    assert inspect(vm, online=True, cache=cache).online is None


def test_oversized_guest_file_is_refused(running):
    domain, _ = running
    guest_run(domain, "dd", "if=/dev/zero", "of=/tmp/big", "bs=1M", f"count={MAX_FILE // 2**20 + 1}")
    with pytest.raises(AgentError, match="over"):
        read_file(AgentSession(LibvirtAgent(domain.dom)), "/tmp/big")


def test_hostile_proc_net_content_is_counted_not_trusted(running):
    domain, _ = running
    junk = b"header\n  0: 0100007F:0016 00000000:0000 0A x\n\x00\xff garbage\n  1: ZZZZ:0016\n"
    write_guest_file(domain, "/tmp/fake_tcp", junk)
    text = read_file(AgentSession(LibvirtAgent(domain.dom)), "/tmp/fake_tcp")
    sockets, bad = parse_proc_net(text, "tcp")
    assert [(s.address, s.port) for s in sockets] == [("127.0.0.1", 22)]
    assert bad == 2


def test_paused_guest_times_out_within_the_deadline(running):
    domain, _ = running
    domain.dom.suspend()
    try:
        start = time.monotonic()
        online = read_online(LibvirtAgent(domain.dom), deadline=4)
        elapsed = time.monotonic() - start
    finally:
        domain.dom.resume()
    assert elapsed < 12
    assert online.users == () and online.sockets == ()
    assert len(online.problems) == 5  # users and the four /proc/net files, each reported
    domain.wait_agent(60)


class Scripted:
    """An agent whose answers the test writes: what a compromised guest could send."""

    def __init__(self, *answers, delay: float = 0.0):
        self.answers = list(answers)
        self.delay = delay
        self.requests = []

    def command(self, request: str, timeout: int) -> str:
        self.requests.append(json.loads(request))
        time.sleep(self.delay)
        if not self.answers:
            raise AgentError("no more answers")
        return self.answers.pop(0)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("x" * (MAX_REPLY + 1), "over"),
        ('{"return": [', "malformed"),
        ('{"return": NaN}', "malformed"),
        ("[" * 100_000 + "]" * 100_000, "malformed"),
        (
            '{"error": {"class": "GenericError", "desc": "Command guest-get-users has been disabled"}}',
            "disabled",
        ),
        ("[1, 2]", "no return value"),
        (None, "not text"),
    ],
)
def test_hostile_replies_become_agent_errors(reply, error):
    with pytest.raises(AgentError, match=error):
        parse_reply("guest-get-users", reply)


@pytest.mark.parametrize(
    "users",
    [
        '{"return": {"user": "x"}}',
        '{"return": [{"user": "ok"}, {"user": "evil\\u001b[2J"}]}',
        '{"return": [{"user": ""}]}',
        '{"return": [{"user": 7}]}',
        json.dumps({"return": [{"user": f"u{i}"} for i in range(1001)]}),
    ],
)
def test_hostile_user_lists_are_rejected_whole(users):
    online = read_online(Scripted(users))
    assert online.users == ()
    assert online.problems[0].startswith("guest-get-users: ")


@pytest.mark.parametrize(
    ("read_answer", "error"),
    [
        ({"count": 3, "buf-b64": "not base64!", "eof": True}, "not base64"),
        ({"count": 99, "buf-b64": "YWJj", "eof": True}, "count does not match"),
        ({"count": 3, "eof": True}, "no buf-b64"),
    ],
)
def test_hostile_file_reads(read_answer, error):
    agent = Scripted('{"return": 5}', json.dumps({"return": read_answer}), '{"return": {}}')
    with pytest.raises(AgentError, match=error):
        read_file(AgentSession(agent), "/proc/net/tcp")
    assert agent.requests[-1] == {"execute": "guest-file-close", "arguments": {"handle": 5}}


def test_endless_file_is_cut_at_the_limit():
    chunk = base64.b64encode(b"a" * 48 * 1024).decode()
    endless = [json.dumps({"return": {"count": 48 * 1024, "buf-b64": chunk, "eof": False}})] * 200
    with pytest.raises(AgentError, match=f"over {MAX_FILE} bytes"):
        read_file(AgentSession(Scripted('{"return": 1}', *endless)), "/proc/net/tcp")


def test_slow_agent_is_bounded_by_the_deadline():
    answers = ['{"return": []}'] + ['{"return": 1}'] * 20
    start = time.monotonic()
    online = read_online(Scripted(*answers, delay=0.4), deadline=1.0)
    assert time.monotonic() - start < 2.5
    assert any("deadline" in p for p in online.problems)
