"""Independent black-box attacks on the display claim of issue #24.

Claim under test: no string from a VM or a guest can move the cursor, write the
clipboard or the title, make a link, forge an output line or disguise itself (bidi,
invisible characters) in any output vmguard produces, and JSON stays exact.

Each test feeds hostile strings through one channel a VM controls and runs the real
`python -m vmguard` process (stream guard on, as an admin runs it), then checks the
bytes with an oracle written here from Unicode data, not from vmguard.core.display. A test
passes when the claim holds; a failing test is a hit. Every test also checks a control
(the hostile text really arrived), so none can pass by not reaching the target.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from lxml import etree
from markdown_it import MarkdownIt

from vmguard.core.display import shown
from vmguard.demo.build import write_lab

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
CSI_C1, OSC_C1, ST_C1 = "\u009b", "\u009d", "\u009c"

# Everything XML 1.0 can carry that a terminal or viewer acts on. ESC and other C0 are
# illegal in XML (even as &#27;), so the XML channels use the 8-bit C1 forms (CSI 0x9b,
# OSC 0x9d ... ST 0x9c) which UTF-8 terminals honour as well.
XML_HOSTILE = (
    f"{CSI_C1}2J{OSC_C1}52;c;Zm9v{ST_C1}{OSC_C1}8;;http://evil.example{ST_C1}ln"
    f"{OSC_C1}0;owned{ST_C1}\u202e\u2066\u200e\u061c\u2028\u2029\u0085\u200b"
    "\ufe0f\U000e0041\u3164\u00ad|`<img src=x onerror=alert(1)>[l](http://evil.example) "
    "<https://evil.example> www.evil.example a@evil.com\r\n## forged\t"
)
NAME_HOSTILE = XML_HOSTILE.replace("/", "")  # libvirt refuses '/' in a domain name
# The same with ESC sequences, for channels that are not XML (file names, JSON).
ESC_HOSTILE = (
    "\x1b]52;c;ZXZpbA==\x07\x1b]8;;https://evil.example/\x1b\\here\x1b]8;;\x1b\\"
    "\x1b]0;title\x07\x1b[2J\x1b[H\x1bc\x08\x7f\x0b\x0c" + XML_HOSTILE
)
# Characters that are drawn as nothing or exactly like an ASCII space: two names that
# differ only by them look the same.
BLANK_LOOKALIKES = "\u00a0\u2000\u205f\u3000\u2800"  # NBSP, EN QUAD, MMSP, IDEOGRAPHIC SPACE, BRAILLE BLANK
_IGNORABLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0000-\U000e0fff]"
)


def bad_characters(text: str, allowed: str = "\n") -> list[str]:
    """Controls, format (bidi, zero-width, tags), separators, surrogates, ignorables."""
    return sorted(
        {
            c
            for c in text
            if c not in allowed
            and (unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") or _IGNORABLE.match(c))
        }
    )


def assert_inert(text: str, allowed: str = "\n") -> None:
    bad = bad_characters(text, allowed)
    assert not bad, f"raw {[f'U+{ord(c):04X}' for c in bad]} in:\n{text[:3000]!r}"


def vmguard(*argv: str, env: dict | None = None) -> tuple[int, str, str]:
    """The real command in its own process: exit code, stdout, stderr (strict UTF-8)."""
    proc = subprocess.run(
        [sys.executable, "-m", "vmguard", *argv],
        capture_output=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )
    out, err = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def markdown_checks(md: str) -> list:
    """A GFM-like viewer: no link, image, raw HTML or autolinkable www. from the input."""
    assert_inert(md)
    parser = MarkdownIt("gfm-like")
    parser.linkify.set({"fuzzy_link": False})
    tokens = parser.parse(md)
    inline = [c for t in tokens for c in (t.children or [])]
    assert not [c for c in inline if c.type in ("link_open", "image")], md
    assert not [c for c in inline if c.type == "html_inline" and c.content != "<br>"], md
    assert not [t for t in tokens if t.type == "html_block"], md
    assert not re.search(r"(?i)www\.evil", md), "an unescaped www. (GFM links it)"
    assert not re.search(r"(?<!\\)<(img|https:)", md), "raw HTML or an autolink"
    return tokens


def headings(tokens: list) -> list[str]:
    return [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]


def html_checks(html: str) -> None:
    assert_inert(html)
    assert "<img src=x" not in html and 'href="http' not in html.replace('href="https://', "")


# --- libvirt test driver: every field of the domain XML -------------------------------


def _attr(text: str) -> str:
    return quoteattr(text).replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def _text(text: str) -> str:
    return escape(text).replace("\r", "&#13;")


def domain_xml(name: str, uuid_tail: str = "01", hostile: str = XML_HOSTILE) -> str:
    one_line = hostile.replace("\r", "").replace("\n", "")  # libvirt refuses them in <title>
    return f"""
  <domain type='test'>
    <name>{_text(name)}</name>
    <uuid>11111111-2222-3333-4444-5555555555{uuid_tail}</uuid>
    <title>{_text(one_line)}</title>
    <description>{_text(hostile)}</description>
    <memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file={_attr("/d" + hostile)}/><target dev='vda' bus='virtio'/></disk>
      <interface type='network'><mac address='52:54:00:00:00:{uuid_tail}'/><source network={_attr("net" + NAME_HOSTILE)}/></interface>
      <interface type='bridge'><mac address='52:54:00:00:01:{uuid_tail}'/><source bridge={_attr("br" + hostile)}/><target dev={_attr("tap" + hostile)}/></interface>
      <filesystem type='mount' accessmode='passthrough'><source dir={_attr("/home/" + hostile)}/><target dir={_attr("tag" + hostile)}/></filesystem>
      <controller type='usb' index='0' model='qemu-xhci'/>
      <graphics type='vnc' port='5900' listen='0.0.0.0'/>
      <channel type='unix'><source mode='bind' path={_attr("/ch" + hostile)}/><target type='virtio' name={_attr("ch" + hostile)}/></channel>
      <serial type='file'><source path={_attr("/ser" + hostile)}/><target port='0'/></serial>
      <serial type='tcp'><source mode='bind' host='0.0.0.0' service='4555'/><protocol type='raw'/><target port='1'/></serial>
      <sound model='ich9'/>
    </devices>
  </domain>"""


def libvirt_lab(root: Path, domains: str) -> Path:
    lab = write_lab(root, [], ["*"])
    network = (
        f"<network><name>{_text('net' + NAME_HOSTILE)}</name><bridge name='virbr-x'/>"
        "<forward mode='nat'/><ip address='198.51.100.1' netmask='255.255.255.0'/></network>"
    )
    lab.node.write_text(f"<node>{network}{domains}\n</node>\n", encoding="utf-8")
    return lab.inventory


def libvirt_names(inventory: Path) -> list[str]:
    import libvirt

    uri = re.search(r'uri: "([^"]+)"', inventory.read_text()).group(1)
    conn = libvirt.open(uri)
    try:
        return sorted(d.name() for d in conn.listAllDomains())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def hostile_domain(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("attack-libvirt")
    inventory = libvirt_lab(root, domain_xml("vm" + NAME_HOSTILE))
    [name] = libvirt_names(inventory)
    assert "\r\n" in name and CSI_C1 in name  # control: libvirt kept the hostile name
    return inventory, name


def test_libvirt_vms_is_one_inert_line(hostile_domain):
    inventory, _ = hostile_domain
    code, out, err = vmguard("vms", "--inventory", str(inventory))
    assert code == 0, err
    assert_inert(out + err)
    assert out.count("\n") == 1
    assert "\\u009b2J" in out  # control: the hostile name is shown, escaped


def test_libvirt_plan_and_dry_run_one_line_per_change(hostile_domain):
    inventory, _ = hostile_domain
    _, raw, _ = vmguard("plan", "--inventory", str(inventory), "--format", "json")
    [plan] = json.loads(raw)["plans"]
    expected = 2 + len(plan["changes"]) + len(plan["manual"])  # and the firewall's line
    for argv in (("plan",), ("apply", "--dry-run")):
        code, out, err = vmguard(*argv, "--inventory", str(inventory))
        assert_inert(out + err)
        assert len(out.splitlines()) == expected, out
        assert out.count("\\u009b2J") >= 3  # control: name, NIC and share all shown


def test_libvirt_plan_json_names_the_domain_exactly(hostile_domain):
    """JSON stays exact: `plan --format json` must carry the domain's real name."""
    inventory, name = hostile_domain
    _, raw, _ = vmguard("plan", "--inventory", str(inventory), "--format", "json")
    [plan] = json.loads(raw)["plans"]
    assert plan["vm"] == name


def test_plan_shows_two_domains_as_two_names(tmp_path):
    """A shown name names exactly one VM: 'dup<CR><LF>x' and 'dup<LF>x' are two VMs."""
    inventory = libvirt_lab(tmp_path, domain_xml("dup\r\nx", "01", "h") + domain_xml("dup\nx", "02", "h"))
    assert libvirt_names(inventory) == ["dup\nx", "dup\r\nx"]  # control: two domains
    code, out, err = vmguard("plan", "--inventory", str(inventory))
    assert_inert(out + err)
    headers = [
        line.split(" (lab")[0] for line in out.splitlines() if not line.startswith((" ", "firewall: "))
    ]
    assert len(headers) == 2 and headers[0] != headers[1], out


def test_libvirt_audit_terminal_and_reports(hostile_domain, tmp_path):
    inventory, name = hostile_domain
    code, out, err = vmguard("audit", "-i", str(inventory), "--out", str(tmp_path), "--guest", "off")
    assert code == 1, err
    assert_inert(out + err)
    report = json.loads((tmp_path / "latest" / "report.json").read_text())
    [vm] = report["vms"]
    assert vm["name"] == name  # JSON: exact
    failing = report["summary"]["failing"]
    assert sum(1 for line in out.splitlines() if line.startswith("  ")) == min(5, failing)
    md = (tmp_path / "latest" / "report.md").read_text()
    tokens = markdown_checks(md)
    assert len(headings(tokens)) == 3, headings(tokens)
    rows = sum(1 for t in tokens if t.type == "tr_open") - sum(1 for t in tokens if t.type == "thead_open")
    assert rows == len(vm["findings"]) + len(report["host"]["findings"])
    html_checks((tmp_path / "latest" / "report.html").read_text())
    assert "\\u009b2J" in md  # control


# --- VirtualBox settings files ---------------------------------------------------------

VBOX = FIXTURES / "vbox" / "Marvint-dev__Samba-AD__Debian.vbox"
VBOX_ATTRIBUTES = {"name", "hostPath", "location", "path", "src", "hostip", "guestip"}


def hostile_vbox(target: Path, name: str) -> Path:
    """The fixture with the hostile text in every name, path and location, and as the
    machine's and every snapshot's description."""
    tree = etree.parse(str(VBOX))
    ns = tree.getroot().nsmap[None]
    for el in tree.getroot().iter():
        if not isinstance(el.tag, str):
            continue
        for key in set(el.attrib) & VBOX_ATTRIBUTES:
            el.set(key, el.get(key) + XML_HOSTILE)
        if etree.QName(el).localname in ("Machine", "Snapshot"):
            etree.SubElement(el, f"{{{ns}}}Description").text = XML_HOSTILE
    tree.find(f".//{{{ns}}}Machine").set("name", name)
    tree.write(str(target), encoding="utf-8", xml_declaration=True)
    return target


def vbox_inventory(root: Path, pattern: str) -> Path:
    lab = write_lab(root, [], [])
    inventory = root / "vbox.yaml"
    inventory.write_text(
        "apiVersion: vmguard/v1\nkind: Inventory\nmetadata: {name: vbox}\n"
        f'connections:\n  - {{name: files, driver: vbox-file, path: "{pattern}"}}\n'
        f'vms:\n  - {{name: "*", connection: files, policy: {lab.policy}}}\n'
    )
    return inventory


def test_vbox_file_every_name_path_and_description(tmp_path):
    name = "vb" + XML_HOSTILE
    hostile_vbox(tmp_path / "m.vbox", name)
    inventory = vbox_inventory(tmp_path, f"{tmp_path}/*.vbox")
    code, out, err = vmguard("vms", "--inventory", str(inventory))
    assert code == 0, err
    assert_inert(out + err)
    assert out.count("\n") == 1 and "\\u009b2J" in out
    _, raw, _ = vmguard("plan", "--inventory", str(inventory), "--format", "json")
    [plan] = json.loads(raw)["plans"]
    code, out, err = vmguard("plan", "--inventory", str(inventory))
    assert_inert(out + err)
    assert len(out.splitlines()) == 2 + len(plan["changes"]) + len(plan["manual"]), out  # + firewall's
    code, out, err = vmguard("audit", "-i", str(inventory), "--out", str(tmp_path / "o"), "--guest", "off")
    assert code == 0, err  # only medium and low findings: below the default --fail-on
    assert_inert(out + err)
    report = json.loads((tmp_path / "o" / "latest" / "report.json").read_text())
    assert [vm["name"] for vm in report["vms"]] == [
        name.replace("\r\n", "\n").replace("\t", " ").replace("\n", " ")
    ] or [vm["name"] for vm in report["vms"]] == [name]  # an attribute: XML normalises it
    md = (tmp_path / "o" / "latest" / "report.md").read_text()
    tokens = markdown_checks(md)
    assert len(headings(tokens)) == 3, headings(tokens)
    html_checks((tmp_path / "o" / "latest" / "report.html").read_text())
    assert "\\u202e" in md  # control


def test_vbox_error_paths_file_name_and_bad_attributes(tmp_path):
    """A broken settings file whose name and attributes carry the attack: one inert line."""
    bad = (
        '<?xml version="1.0"?>\n<VirtualBox xmlns="http://www.virtualbox.org/" version="1.12-linux">'
        f"<Machine name={_attr(XML_HOSTILE)} uuid={_attr('{' + XML_HOSTILE + '}')} OSType={_attr(XML_HOSTILE)}>"
        f"<Hardware><Network><Adapter slot={_attr(XML_HOSTILE)} enabled={_attr(XML_HOSTILE)}/>"
        "</Network></Hardware></Machine></VirtualBox>\n"
    )
    file_name = "bad\n## forged \u009b2J\u202e\u2028\u0085" + ".vbox"
    (tmp_path / file_name).write_text(bad, encoding="utf-8")
    inventory = vbox_inventory(tmp_path, f"{tmp_path}/*.vbox")
    for argv in (
        ("vms", "--inventory"),
        ("plan", "--inventory"),
        ("audit", "--guest", "off", "--out", str(tmp_path / "o"), "-i"),
    ):
        code, out, err = vmguard(*argv, str(inventory))
        assert code == 3, (out, err)
        assert_inert(out + err)
        problem = [line for line in err.splitlines() if "bad" in line]
        assert len(problem) == 1 and "\\u009b2J" in problem[0], err  # one line, escaped
        assert not [line for line in (out + err).splitlines() if line.startswith("## forged")]


def test_vbox_error_path_undecodable_file_name(tmp_path):
    raw = os.path.join(os.fsencode(tmp_path), b"raw\xff\x9b2J\xc2\x9b2J.vbox")
    with open(raw, "wb") as f:
        f.write(b"<VirtualBox")
    inventory = vbox_inventory(tmp_path, f"{tmp_path}/*.vbox")
    code, out, err = vmguard("vms", "--inventory", str(inventory))
    assert code == 3, err
    assert_inert(out + err)
    assert "raw\\xff\\x9b2J\\u009b2J.vbox" in err  # control, and each byte named once


# --- quarantine file names --------------------------------------------------------------


def test_vet_nested_names_and_symlink_targets(tmp_path):
    lab = write_lab(tmp_path, [], [])
    q = tmp_path / "q"
    names = [
        "a" + ESC_HOSTILE.replace("/", "")[:60],
        "a2" + XML_HOSTILE.replace("/", "")[-60:],
        "b\u202egpj.exe",
        "c\u2800",  # control for the blank-lookalike test below; not escaped here
    ]
    sub = q / ("d\n## forged\u202e\u009b2J")
    sub.mkdir(parents=True)
    for n in names:
        (q / n).write_text("plain text\n")
    (sub / ("f\u2028" + CSI_C1 + "2J")).write_text("plain text\n")
    os.symlink("/etc/\x1b]52;c;Zm9v\x07\u202e", q / "lnk")
    argv = [
        "vet",
        str(q),
        "--policy",
        str(lab.policy),
        "--to",
        str(tmp_path / "pub"),
        "--job",
        "j1",
        "--dry-run",
    ]
    code, out, err = vmguard(*argv)
    assert code == 1, err
    assert_inert(out + err)
    _, raw, _ = vmguard(*argv, "--format", "json")
    rejected = json.loads(raw)["rejected"]
    listed = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(listed) == len(rejected) >= 4, out
    assert not [line for line in out.splitlines() if line.startswith("## forged")]


def test_vet_json_carries_exact_names(tmp_path):
    """vet's JSON names a rejected file in display.shown()'s reversible form (README:
    file names may be bytes JSON cannot carry); the form names exactly that file."""
    lab = write_lab(tmp_path, [], [])
    q = tmp_path / "q"
    q.mkdir()
    name = "x\x1b[2J\u202eb.exe"
    (q / name).write_text("plain text\n")
    argv = [
        "vet",
        str(q),
        "--policy",
        str(lab.policy),
        "--to",
        str(tmp_path / "pub"),
        "--job",
        "j1",
        "--dry-run",
        "--format",
        "json",
    ]
    _, raw, _ = vmguard(*argv)
    assert_inert(raw)
    [entry] = json.loads(raw)["rejected"]
    assert entry["path"] == shown(name), entry


# --- report merge: every string of a host report ---------------------------------------


@pytest.fixture(scope="module")
def real_report(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("attack-report")
    inventory = libvirt_lab(root, domain_xml("plain-vm", "01", "h"))
    code, _, err = vmguard("audit", "-i", str(inventory), "--out", str(root / "o"), "--guest", "off")
    assert code == 1, err
    return json.loads((root / "o" / "latest" / "report.json").read_text())


def _poison(node, hostile: str, keep: frozenset):
    """Every string leaf, except the keys a schema constrains, with the attack appended."""
    if isinstance(node, dict):
        return {k: v if k in keep else _poison(v, hostile, keep) for k, v in node.items()}
    if isinstance(node, list):
        return [_poison(v, hostile, keep) for v in node]
    return node + hostile if isinstance(node, str) else node


# Fields the report schema pins (enums, patterns, dates): poisoned, the merge refuses
# the file with one located line per problem (the second case); left as they are, the
# merge renders every other string (the first case).
PINNED = frozenset(
    {
        "schema",
        "severities",
        "severity",
        "drift",
        "rule",
        "fail_on",
        "run",
        "started",
        "vmguard_version",
        "trend",
        "waiver",
    }
)


@pytest.mark.parametrize("keep", [PINNED, frozenset({"schema"})], ids=["renders", "refused"])
def test_report_merge_of_reports_poisoned_everywhere(real_report, tmp_path, keep):
    doc = _poison(real_report, ESC_HOSTILE, keep)
    files = []
    for host in ("h1", "h\u202e2\n## forged"):
        files.append(tmp_path / f"{host}.json")
        files[-1].write_text(json.dumps(doc))
    out_dir = tmp_path / "fleet"
    code, out, err = vmguard("report", "merge", *map(str, files), "--out", str(out_dir))
    assert_inert(out + err)
    if keep != PINNED:  # refused as bad input, each problem on one located line
        assert code == 2 and err.strip(), (out, err)
        assert all(ln.startswith(str(tmp_path)) for ln in err.splitlines()), err
        return
    assert code in (0, 1), err
    assert len(out.splitlines()) == 3, out  # the three files written
    md = (out_dir / "fleet.md").read_text()
    tokens = markdown_checks(md)
    assert len(headings(tokens)) == 3, headings(tokens)
    html_checks((out_dir / "fleet.html").read_text())
    assert "ZXZpbA==" in md  # control: the poisoned strings are in the report


# --- log verify -------------------------------------------------------------------------


def test_log_verify_quotes_a_tampered_line_inertly(tmp_path):
    log = tmp_path / "events.jsonl"
    lab = write_lab(tmp_path, [], [])
    q = tmp_path / "q"
    q.mkdir()
    (q / "ok.txt").write_text("plain\n")
    env = {"VMGUARD_LOG": str(log)}
    vmguard("vet", str(q), "--policy", str(lab.policy), "--to", str(tmp_path / "pub"), "--job", "j1", env=env)
    assert log.exists() and log.read_text().count("\n") >= 1  # control: a real log
    with log.open("a", encoding="utf-8") as f:
        f.write(ESC_HOSTILE.replace("\n", " ").replace("\r", " ") + '{"forged": "\u202e\u2028"}\n')
    code, out, err = vmguard("log", "verify", env=env)
    assert code == 1, (out, err)
    assert_inert(out + err)
    assert len((out + err).splitlines()) == 2, out + err


# --- disguise: characters drawn exactly like a space, or as nothing --------------------


@pytest.mark.parametrize("char", list(BLANK_LOOKALIKES))
def test_a_blank_lookalike_does_not_pass_for_another_name(tmp_path, char):
    """'batch 01' and 'batch<U+xxxx>01' must not be shown identically (the claim: no name
    can pass for another). The control, an ASCII-space name, must show as itself."""
    inventory = libvirt_lab(
        tmp_path, domain_xml("batch 01", "01", "h") + domain_xml(f"batch{char}01", "02", "h")
    )
    code, out, err = vmguard("vms", "--inventory", str(inventory))
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and any(line.startswith("batch 01 ") for line in lines)  # control
    shown_names = [line.split(" lab ")[0] for line in lines]
    looks = [re.sub(f"[{BLANK_LOOKALIKES}]", " ", n) for n in shown_names]
    assert looks[0] != looks[1], shown_names


def test_a_very_long_name_stays_one_line(tmp_path):
    """20,000 characters of attack in one name: still one line per VM and per finding."""
    name = "long" + (NAME_HOSTILE * 120)[:20000]
    inventory = libvirt_lab(tmp_path, domain_xml(name, "01", "h"))
    [real] = libvirt_names(inventory)
    assert len(real) > 15000  # control: libvirt kept it
    code, out, err = vmguard("vms", "--inventory", str(inventory))
    assert code == 0, err
    assert_inert(out + err)
    assert out.count("\n") == 1
    code, out, err = vmguard("audit", "-i", str(inventory), "--out", str(tmp_path / "o"), "--guest", "off")
    assert code == 1, err
    assert_inert(out + err)
    report = json.loads((tmp_path / "o" / "latest" / "report.json").read_text())
    assert report["vms"][0]["name"] == real
    assert sum(1 for line in out.splitlines() if line.startswith("  ")) == min(
        5, report["summary"]["failing"]
    )


# --- batch verdict files (written beside a job's output; built by the library) ----------


def test_verdict_file_of_a_hostile_job_is_inert_and_one_line_per_item():
    from vmguard.batch.job import BatchJob
    from vmguard.batch.verdict import JobOutcome, JobVerdict, Rejection

    job = BatchJob(
        runner="slurm",
        id="7" + ESC_HOSTILE,
        user=ESC_HOSTILE,
        uid=1000,
        gid=1000,
        name=ESC_HOSTILE,
        queue=ESC_HOSTILE,
        comment=ESC_HOSTILE,
        host=ESC_HOSTILE,
    )
    rejected = (Rejection(ESC_HOSTILE, ESC_HOSTILE), Rejection("plain\\x1b", "r"))
    verdict = JobVerdict(
        job=job,
        outcome=JobOutcome.REJECTED,
        message=ESC_HOSTILE,
        vm=ESC_HOSTILE,
        policy=ESC_HOSTILE,
        quarantine=ESC_HOSTILE,
        public=ESC_HOSTILE,
        promoted=1,
        rejected=rejected,
        manifest=ESC_HOSTILE,
    )
    text = verdict.text()
    assert_inert(text)
    assert len(text.splitlines()) == 1 + 1 + len(rejected) + 1, text
    assert "\\u202e" in text  # control
    assert_inert(verdict.summary())
    assert "\n" not in verdict.summary()


# --- error paths: a settings file whose every attribute is hostile ----------------------


def test_every_vbox_attribute_hostile_gives_a_located_one_line_error_or_facts(tmp_path):
    """No attribute value makes the reader raise anything but vmguard's own error (which
    the CLI prints as one escaped line); a traceback would print the value raw."""
    from vmguard.core.display import shown
    from vmguard.core.errors import VmguardError
    from vmguard.drivers.vbox.file import read_settings_file

    base = etree.parse(str(FIXTURES / "vbox" / "von__pyVBox__TestVM.vbox"))
    count = len([e for e in base.getroot().iter() if isinstance(e.tag, str)])
    tried = 0
    for index in range(count):
        for key in [e for e in base.getroot().iter() if isinstance(e.tag, str)][index].attrib:
            for value in ("\u009b2J\n\u202e", "99999999999999999999"):
                tree = etree.fromstring(etree.tostring(base))
                [e for e in tree.iter() if isinstance(e.tag, str)][index].set(key, value)
                target = tmp_path / "m.vbox"
                target.write_bytes(etree.tostring(tree, xml_declaration=True, encoding="utf-8"))
                tried += 1
                try:
                    read_settings_file(target)
                except VmguardError as err:
                    assert "\n" not in shown(err)
    assert tried > 100  # control: the attack reached many attributes


def test_apply_acts_on_the_domain_it_planned_for(tmp_path):
    """Beyond display, same root cause as the two plan tests above: the plan names a VM
    by its XML-parsed name, which loses a CR. `apply` for 'dup<CR><LF>x' must never back
    up, power off or redefine the other domain 'dup<LF>x' (uuid ...99)."""
    other = (
        "\n  <domain type='test'><name>dup\nx</name><uuid>11111111-2222-3333-4444-555555555599</uuid>"
        "<memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices/></domain>"
    )
    inventory = libvirt_lab(tmp_path, domain_xml("dup\r\nx", "01", "h") + other)
    assert libvirt_names(inventory) == ["dup\nx", "dup\r\nx"]  # control: two domains
    state = tmp_path / "state"
    env = {"VMGUARD_LOG": str(tmp_path / "log.jsonl"), "VMGUARD_STATE_DIR": str(state)}
    code, out, err = vmguard("apply", "--inventory", str(inventory), "--next-boot", env=env)
    assert_inert(out + err)
    # The inventory's "*" names both domains, so both are backed up, each in its own
    # directory: the hostile one's backup must hold its own domain (uuid ...01).
    backups = {p.parent.name: p.read_text() for p in state.rglob("*.cfg")}
    assert "dup__x" in backups  # control: apply got as far as the hostile VM's backup
    assert "555555555501" in backups["dup__x"], "backed up the other VM"
    assert "555555555599" not in backups["dup__x"], "backed up the other VM"
