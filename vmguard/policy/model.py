"""The resolved policy as frozen dataclasses: what every other part of vmguard reads.

The loader (vmguard.policy.loader) turns YAML into these objects after schema and
semantic checks; nothing downstream ever sees a raw dict.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from vmguard.core.findings import Level
from vmguard.core.modes import (
    Access,
    NetworkMode,
    Protocol,
    RemoteDisplay,
    SharePurpose,
    Toggle,
    TransferMode,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class FileKind(StrEnum):
    """Kinds of quarantine entry a policy can forbid."""

    SYMLINKS = "symlinks"
    HARDLINKS = "hardlinks"
    SPECIAL_FILES = "special_files"
    SETUID = "setuid"
    EXECUTABLES = "executables"


class NameRules(StrEnum):
    """Which names a public area can take."""

    POSIX = "posix"  # anything but controls, invisible characters, collisions
    PORTABLE = "portable"  # also what Windows clients cannot hold (CON, "a.", "a:b")


class SparseFiles(StrEnum):
    PRESERVE = "preserve"  # copied with their holes (SEEK_DATA/SEEK_HOLE), same hash
    REFUSE = "refuse"  # a file with a hole is rejected


class TextEncoding(StrEnum):
    """An encoding text may be in (the whole file valid in it, controls still limited)."""

    UTF8 = "utf-8"  # ASCII included
    UTF16 = "utf-16"  # with a byte order mark (LE or BE): without one it cannot be told
    LATIN1 = "latin-1"  # ISO 8859-1: any byte but NUL and the C0/C1 controls; opt-in


class PromoteMode(StrEnum):
    ALL_OR_NOTHING = "all-or-nothing"
    PER_FILE = "per-file"


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class Egress:
    name: str
    to: tuple[IPNetwork, ...]
    ports: tuple[PortRange, ...]  # empty for ICMP
    protocol: Protocol = Protocol.TCP


@dataclass(frozen=True)
class Ingress:
    name: str
    ports: tuple[PortRange, ...]
    sources: tuple[IPNetwork, ...]  # the YAML key is `from`
    protocol: Protocol = Protocol.TCP


@dataclass(frozen=True)
class NetworkPolicy:
    mode: NetworkMode = NetworkMode.NONE
    egress: tuple[Egress, ...] = ()
    ingress: tuple[Ingress, ...] = ()
    log_denied: bool = True

    @property
    def wants_ipv6(self) -> bool:
        nets = [n for e in self.egress for n in e.to] + [n for i in self.ingress for n in i.sources]
        return any(n.version == 6 for n in nets)


@dataclass(frozen=True)
class ShareRule:
    name: str  # the name the guest sees (VirtualBox share name, 9p/virtiofs mount tag)
    host_path: str  # may contain {vm}; expand with Policy.share_path()
    access: Access = Access.READ_ONLY
    purpose: SharePurpose = SharePurpose.OTHER

    def host_path_for(self, vm: str) -> str:
        return self.host_path.replace("{vm}", vm)


@dataclass(frozen=True)
class SharedFoldersPolicy:
    allow: tuple[ShareRule, ...] = ()
    forbid_host_paths: tuple[str, ...] = ()
    automount: bool = False
    allow_symlinks: bool = False  # VirtualBox SharedFoldersEnableSymlinksCreate


@dataclass(frozen=True)
class DevicesPolicy:
    clipboard: TransferMode = TransferMode.DISABLED
    drag_and_drop: TransferMode = TransferMode.DISABLED
    usb: Toggle = Toggle.DISABLED
    audio: Toggle = Toggle.DISABLED
    remote_display: RemoteDisplay = RemoteDisplay.DISABLED
    serial_ports: Toggle = Toggle.DISABLED
    parallel_ports: Toggle = Toggle.DISABLED
    host_devices: Toggle = Toggle.DISABLED  # PCI/USB passthrough
    guest_agent: Toggle = Toggle.ENABLED  # qemu-ga / guest additions control channel


@dataclass(frozen=True)
class SshPolicy:
    """What sshd in the guest may offer beyond a plain login (both off for batch guests)."""

    x11_forwarding: bool = False  # carries the X clipboard and display out of the VM
    tcp_forwarding: bool = False  # tunnels through the VM to what it can reach


@dataclass(frozen=True)
class UsersPolicy:
    interactive_login: tuple[str, ...] = ()
    root_login: bool = False
    password_authentication: bool = False
    ssh: SshPolicy = field(default_factory=SshPolicy)
    # The shell `apply --guest` gives accounts that may not log in (besides locking their
    # password, which leaves SSH keys usable); None: shells are left alone.
    nologin_shell: str | None = None


@dataclass(frozen=True)
class SoftwarePolicy:
    forbid: tuple[str, ...] = ()
    # None: services are not checked; a tuple: only these may be enabled at boot.
    allowed_services: tuple[str, ...] | None = None
    # The permission scan of every file of the guest (world-writable, set-id); off only
    # for images too large to walk in the audit's time.
    file_scan: bool = True


DEFAULT_CLAMD_SOCKET = "/run/clamav/clamd.ctl"  # Debian's clamav-daemon


@dataclass(frozen=True)
class ClamdScanner:
    """ClamAV's daemon, spoken to on its UNIX socket; each file's descriptor is passed."""

    socket: str = DEFAULT_CLAMD_SOCKET
    timeout: float = 120.0  # per file, from sending it to clamd's answer
    in_flight: int = 4  # files handed to clamd at once
    peer_uids: tuple[int, ...] = ()  # trusted as clamd's peer besides root and the clamav user


@dataclass(frozen=True)
class YaraScanner:
    """YARA rules over each file's bytes: vmguard's shipped secret rules and the site's."""

    rules: tuple[str, ...] = ()  # site rule files (absolute paths), added to the shipped set
    shipped: bool = True
    timeout: float = 60.0


@dataclass(frozen=True)
class CommandScanner:
    """Any other scanner: a program run per file (exit 0 clean, 1 flagged)."""

    argv: tuple[str, ...]  # "{path}" is replaced by /dev/fd/N, "{fd}" by N
    timeout: float = 60.0


@dataclass(frozen=True)
class Scanners:
    """The content scanners a vet runs on every file; none configured means none run."""

    clamd: ClamdScanner | None = None
    yara: YaraScanner | None = None
    command: CommandScanner | None = None

    def configured(self) -> tuple[ClamdScanner | YaraScanner | CommandScanner, ...]:
        return tuple(s for s in (self.clamd, self.yara, self.command) if s is not None)


@dataclass(frozen=True)
class PromotePolicy:
    to: str | None = None  # public area; may contain {vm} and {job}
    mode: PromoteMode = PromoteMode.ALL_OR_NOTHING
    file_mode: int = 0o644
    dir_mode: int = 0o755
    owner: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class QuarantinePolicy:
    max_file_size: int = 20 * 1024**3
    max_total_size: int = 200 * 1024**3
    max_files: int = 100_000
    max_depth: int = 32
    max_name_length: int = 255
    # Type names (text, json, root...: vmguard.quarantine.validators.TYPES) or MIME
    # types ("text/*" allowed); a MIME type no validator covers is admitted only if it is
    # also in head_only (`{type: image/png, validate: head-only}` in YAML).
    allow_types: tuple[str, ...] = ("text",)
    head_only: tuple[str, ...] = ()
    forbid: tuple[FileKind, ...] = tuple(FileKind)
    scanners: Scanners = field(default_factory=Scanners)
    promote: PromotePolicy = field(default_factory=PromotePolicy)
    names: NameRules = NameRules.POSIX
    # Exact names with a leading dot the site publishes (".snakemake"): every other dot
    # name is refused, being what servers, shells and version control read as config.
    dot_names: tuple[str, ...] = ()
    sparse_files: SparseFiles = SparseFiles.PRESERVE
    text_encodings: tuple[TextEncoding, ...] = (TextEncoding.UTF8, TextEncoding.UTF16)


@dataclass(frozen=True)
class Waiver:
    rule: str  # a catalog rule id, e.g. VMG-DEV-001
    vm: str  # VM name or glob
    justification: str
    owner: str
    expires: dt.date

    def active(self, today: dt.date) -> bool:
        return today <= self.expires


@dataclass(frozen=True)
class Metadata:
    name: str
    description: str = ""


class DriftAction(StrEnum):
    """What `vmguard watch --enforce` does to a VM that drifts out of its policy."""

    REAPPLY = "reapply"  # the policy's settings back (vmguard apply)
    PAUSE = "pause"  # the running VM paused; its configuration left for an admin
    POWEROFF = "poweroff"  # the running VM powered off
    REPORT = "report"  # logged and printed only, as plain `watch`


@dataclass(frozen=True)
class Enforcement:
    """The start gate and continuous enforcement for VMs of this role."""

    block_at: Level = Level.HIGH  # a start is refused by a finding at or above it
    on_drift: DriftAction = DriftAction.REAPPLY


@dataclass(frozen=True)
class Policy:
    metadata: Metadata
    source: str  # path of the file this policy was loaded from
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    shared_folders: SharedFoldersPolicy = field(default_factory=SharedFoldersPolicy)
    devices: DevicesPolicy = field(default_factory=DevicesPolicy)
    users: UsersPolicy = field(default_factory=UsersPolicy)
    software: SoftwarePolicy = field(default_factory=SoftwarePolicy)
    quarantine: QuarantinePolicy = field(default_factory=QuarantinePolicy)
    waivers: tuple[Waiver, ...] = ()
    enforcement: Enforcement = field(default_factory=Enforcement)
    # Where each setting came from, "spec.devices.clipboard" -> "policy/base.yaml:31:16",
    # so plans and findings can name the policy line that wants a value.
    origins: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        return self.metadata.name

    def origin(self, dotted: str) -> str:
        """The file:line:col of a setting, or of its closest configured parent."""
        while dotted:
            if dotted in self.origins:
                return self.origins[dotted]
            dotted = dotted.rpartition(".")[0]
        return self.source
