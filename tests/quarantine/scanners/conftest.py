"""Fixtures for the scanner engines: one real clamd for the whole session, policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.quarantine.conftest import rules, write
from tests.support.clamd import ClamdServer
from tests.support.require import require_tools
from vmguard.policy.model import ClamdScanner, Scanners, YaraScanner


@pytest.fixture(scope="session")
def clamd_server(tmp_path_factory) -> ClamdServer:
    """Started once (a second or two with the test database), stopped at the end."""
    require_tools("clamd")
    server = ClamdServer(tmp_path_factory.mktemp("clamd")).start()
    yield server
    server.stop()


@pytest.fixture
def own_clamd(tmp_path_factory) -> ClamdServer:
    """A clamd of this test's own, for tests that stop or kill it."""
    require_tools("clamd")
    server = ClamdServer(tmp_path_factory.mktemp("clamd-own"), threads=2).start()
    yield server
    server.stop()


def clamd_rules(server: ClamdServer, **kw):
    return rules(
        scanners=Scanners(
            clamd=ClamdScanner(
                socket=server.socket, timeout=kw.pop("timeout", 30), in_flight=kw.pop("in_flight", 4)
            )
        ),
        **kw,
    )


def yara_rules(*site: str | Path, shipped: bool = True, **kw):
    return rules(scanners=Scanners(yara=YaraScanner(rules=tuple(map(str, site)), shipped=shipped)), **kw)


@pytest.fixture
def job(tmp_path):
    q, pub = tmp_path / "q", tmp_path / "pub"
    write(q / "clean.txt", "nothing to see\n")
    write(q / "sub" / "data.json", '{"events": 42}')
    pub.mkdir()
    return q, pub
