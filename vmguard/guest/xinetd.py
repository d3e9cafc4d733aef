"""Parse xinetd's configuration: which services it starts, on which ports."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vmguard.guest.model import GuestSource, Service, ServiceKind

_SERVICE = re.compile(r"^\s*service\s+(\S+)")
_ATTRIBUTE = re.compile(r"^\s*([A-Za-z_]+)\s*([-+]?=)\s*(.*?)\s*$")
_SOCKET_PROTOCOL = {"stream": "tcp", "dgram": "udp"}


@dataclass(frozen=True)
class XinetdBlock:
    name: str  # "defaults" or the service name
    attributes: dict[str, str]
    path: str
    line: int


def parse_blocks(text: str, path: str) -> list[XinetdBlock]:
    """`service NAME { key = value ... }` and `defaults { ... }` blocks, with lines."""
    blocks, current, start, attrs = [], "", 0, {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0]
        header = _SERVICE.match(line) or (re.match(r"^\s*(defaults)\b", line))
        if header and not current:
            current, start, attrs = header.group(1), number, {}
        elif line.strip() == "}" and current:
            blocks.append(XinetdBlock(current, attrs, path, start))
            current = ""
        elif current and (attribute := _ATTRIBUTE.match(line)):
            key, op, value = attribute.groups()
            attrs[key.lower()] = f"{attrs.get(key.lower(), '')} {value}".strip() if op == "+=" else value
    return blocks


def includedirs(text: str) -> list[str]:
    return re.findall(r"^\s*includedir\s+(\S+)", text, re.MULTILINE)


def enabled_services(blocks: list[XinetdBlock], ports: dict[tuple[str, str], int]) -> list[Service]:
    """Services xinetd would start: not `disable = yes`, not in defaults' `disabled`."""
    disabled = {n for b in blocks if b.name == "defaults" for n in b.attributes.get("disabled", "").split()}
    services = []
    for block in blocks:
        attrs = block.attributes
        if block.name == "defaults" or block.name in disabled or attrs.get("disable", "no").lower() == "yes":
            continue
        protocol = attrs.get("protocol") or _SOCKET_PROTOCOL.get(attrs.get("socket_type", ""), "tcp")
        port = int(attrs["port"]) if attrs.get("port", "").isdigit() else ports.get((block.name, protocol))
        source = GuestSource("xinetd", block.path, block.line)
        services.append(Service(block.name, ServiceKind.XINETD, source, protocol=protocol, port=port))
    return services


def parse_etc_services(text: str) -> dict[tuple[str, str], int]:
    """{(name or alias, protocol): port} from /etc/services."""
    ports: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and re.fullmatch(r"\d{1,5}/(tcp|udp)", fields[1]):
            port, protocol = fields[1].split("/")
            for name in [fields[0], *fields[2:]]:
                ports.setdefault((name, protocol), int(port))
    return ports
