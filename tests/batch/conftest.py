"""Batch-area fixtures: the event log of the module's site (each test module defines `site`)."""

from __future__ import annotations

import pytest

from tests.batch.site import Site


@pytest.fixture
def site_log(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """VMGUARD_LOG names the site's log, so the hooks' events land with the site."""
    monkeypatch.setenv("VMGUARD_LOG", str(site.log))
