"""The HTML report in a real headless Chromium: it renders, and hostile VM names stay text."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from tests.audit.test_reports import EVIL_NAMES, EVIL_PATH, evil_run  # noqa: F401 - fixture
from tests.support.require import require

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    require(Path(CHROMIUM).exists(), "needs Debian's chromium (.ci/apt-packages.txt)")
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


class Elements(HTMLParser):
    """Every element of the dumped DOM, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def dump_dom(tmp_path: Path, page: Path) -> Elements:
    proc = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    parser = Elements()
    parser.feed(proc.stdout)
    return parser


def test_report_renders_and_injects_nothing(evil_run, tmp_path):  # noqa: F811
    dom = dump_dom(tmp_path, evil_run.report("html"))
    tags = [t for t, _ in dom.tags]
    assert "table" in tags and "h1" in tags
    assert tags.count("svg") == 1  # the trend chart, and no VM-named one
    assert "script" not in tags and "img" not in tags
    assert not any(k.startswith("on") for _, attrs in dom.tags for k in attrs)
    text = "".join(dom.text)
    for name in EVIL_NAMES:
        assert name in text  # shown as text, exactly
    assert EVIL_PATH in text
    vm_names = [a for t, a in dom.tags if t == "span" and a.get("class") == "vm-name"]
    assert len(vm_names) >= len(EVIL_NAMES)


def test_report_screenshot(evil_run, tmp_path):  # noqa: F811
    shot = tmp_path / "report.png"
    proc = chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1200,900", evil_run.report("html").as_uri()
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    shutil.copy(shot, Path("/tmp/vmguard-audit-report.png"))  # for a human to look at
