"""The rule catalog: one YAML file per rule, loaded once per process.

Installed wheels carry the catalog inside the package (vmguard/catalog/, put there by
pyproject's hatch force-include); a source checkout reads the top-level rules/ folder.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from vmguard.core.errors import AuditError
from vmguard.core.findings import Level

ID_PATTERN = re.compile(r"^VMG-(NET|FS|DEV|USR|SW|FW|VET|INV)-\d{3}$")
REQUIRED = ("id", "title", "severity", "check", "rationale", "remediation", "references")
HYPERVISORS = ("libvirt", "virtualbox")  # the keys of remediation_by_hypervisor
# A driver (inventory `driver:`) -> the hypervisor whose fix text applies to its VMs.
HYPERVISOR_OF_DRIVER = {"libvirt": "libvirt", "virtualbox": "virtualbox", "vbox-file": "virtualbox"}
_PACKAGE = Path(__file__).resolve().parent.parent
# libyaml's safe loader when PyYAML has it: ten times faster than the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Reference:
    title: str
    url: str


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Level
    rationale: str
    remediation: str
    references: tuple[Reference, ...]
    # Optional: the fix spelled for each hypervisor where it differs (hypervisor, text).
    by_hypervisor: tuple[tuple[str, str], ...] = ()
    check: str = ""  # the rule's function under vmguard.checks: "devices.clipboard"

    @property
    def area(self) -> str:
        return self.id.split("-")[1]

    def fix_for(self, driver: str) -> str:
        """The fix for a VM of this driver (its hypervisor's own text first), else the
        general remediation."""
        hypervisor = HYPERVISOR_OF_DRIVER.get(driver, "")
        return dict(self.by_hypervisor).get(hypervisor, self.remediation)


@dataclass(frozen=True)
class Catalog:
    """Rules by id: `"VMG-DEV-001" in catalog`; iterating yields Rules sorted by id."""

    rules: dict[str, Rule]
    directory: Path

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self.rules

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self.rules.values(), key=lambda rule: rule.id))

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.rules)

    def get(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise AuditError(f"unknown rule {rule_id!r}: see `vmguard rules list`") from None


def catalog_dir() -> Path:
    """The installed catalog if present, else the source checkout's rules/ folder."""
    for candidate in (_PACKAGE / "catalog", _PACKAGE.parent / "rules"):
        if candidate.is_dir():
            return candidate
    raise AuditError(f"rule catalog not found (looked in {_PACKAGE / 'catalog'} and ../rules)")


def _parse(path: Path) -> Rule:
    try:
        text = path.read_text(encoding="utf-8")
        doc = yaml.load(text, Loader=_LOADER)  # noqa: S506  # nosec B506 - a safe loader
    except (OSError, yaml.YAMLError) as err:
        raise AuditError(f"{path}: unreadable rule: {err}") from err
    missing = [key for key in REQUIRED if not isinstance(doc, dict) or key not in doc]
    if missing:
        raise AuditError(f"{path}: rule lacks {', '.join(missing)}")
    if doc["id"] != path.stem or not ID_PATTERN.match(doc["id"]):
        raise AuditError(f"{path}: id {doc['id']!r} must match the file name and VMG-AREA-NNN")
    try:
        severity = Level(doc["severity"])
        refs = tuple(Reference(str(r["title"]), str(r["url"])) for r in doc["references"])
    except (ValueError, KeyError, TypeError) as err:
        raise AuditError(f"{path}: bad severity or references: {err}") from err
    by_hypervisor = _by_hypervisor(path, doc.get("remediation_by_hypervisor", {}))
    return Rule(
        id=doc["id"],
        title=doc["title"],
        severity=severity,
        rationale=doc["rationale"].strip(),
        remediation=doc["remediation"].strip(),
        references=refs,
        check=str(doc["check"]),
        by_hypervisor=by_hypervisor,
    )


def _by_hypervisor(path: Path, texts: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(texts, dict) or not set(texts) <= set(HYPERVISORS):
        raise AuditError(f"{path}: remediation_by_hypervisor takes {' and '.join(HYPERVISORS)}")
    return tuple((name, str(texts[name]).strip()) for name in HYPERVISORS if name in texts)


@functools.cache
def load_catalog(directory: Path | None = None) -> Catalog:
    """Every rule of the catalog; raises AuditError when a rule file is malformed."""
    directory = directory or catalog_dir()
    rules = {rule.id: rule for rule in map(_parse, sorted(directory.glob("VMG-*.yaml")))}
    if not rules:
        raise AuditError(f"rule catalog {directory} is empty")
    return Catalog(rules, directory)


def rule_ids() -> frozenset[str]:
    """The catalog's rule ids: what policy and inventory loading check waivers against."""
    return load_catalog().ids
