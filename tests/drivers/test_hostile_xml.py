"""Readers on damaged configuration: any attribute blanked or garbled gives facts or a
DriverError, never a traceback (a config file is input, not a trusted program)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.drivers.conftest import FIXTURES
from vmguard.core.errors import DriverError
from vmguard.drivers import safexml
from vmguard.drivers.libvirt.facts import facts_from_xml
from vmguard.drivers.vbox.settings import facts_from_settings

GARBAGE = ("", "x", "-1", "99999999999999999999", "0x", "1,2", "true", "%NAME%")
PER_FILE = 50


def _mutants(path: Path):
    """(description, root) pairs: one attribute of the document changed each time."""
    rng = random.Random(path.name)  # deterministic per file
    base = safexml.parse(path.read_bytes(), str(path))
    spots = [(i, key) for i, el in enumerate(base.iter()) for key in el.attrib]
    for index, key in rng.sample(spots, min(PER_FILE, len(spots))):
        root = safexml.parse(path.read_bytes(), str(path))
        el = list(root.iter())[index]
        value = rng.choice(GARBAGE)
        el.set(key, value)
        yield f"{safexml.path_of(el)}/@{key}={value!r}", root


@pytest.mark.parametrize("path", sorted((FIXTURES / "libvirt").glob("*.xml")), ids=lambda p: p.stem)
def test_libvirt_reader_survives_garbage(path: Path) -> None:
    for where, root in _mutants(path):
        try:
            facts_from_xml(root, lookup=lambda _n: None, file=str(path))
        except DriverError:
            pass
        except Exception as err:  # noqa: BLE001 - the point: nothing else may escape
            pytest.fail(f"{path.name} {where}: {type(err).__name__}: {err}")


@pytest.mark.parametrize("path", sorted((FIXTURES / "vbox").glob("*.vbox")), ids=lambda p: p.stem)
def test_vbox_reader_survives_garbage(path: Path) -> None:
    for where, root in _mutants(path):
        try:
            facts_from_settings(safexml.strip_namespaces(root), str(path))
        except DriverError:
            pass
        except Exception as err:  # noqa: BLE001
            pytest.fail(f"{path.name} {where}: {type(err).__name__}: {err}")
