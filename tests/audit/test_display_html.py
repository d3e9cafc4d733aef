"""The HTML reports in headless Chromium with a hostile, very long VM name (issue #24):
bidi and control characters are shown as escapes, the fix column stays on screen, and
fleet.html carries report.html's Content-Security-Policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.audit.test_browser import dump_dom
from tests.support.hostile_text import assert_inert, run_cli
from vmguard.cli import main
from vmguard.demo.build import write_lab
from vmguard.demo.lab import DomainSpec, Share

NAME = "evil\u202egpj.exe\u2066\x85" + "A" * 1500  # one unbroken word, wider than any screen
PATH = "/" + "p" * 1500
CSP = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
# Measures the page after layout; only in the test's copy (the report itself runs no script).
MEASURE = """<script>
const rights = [...document.querySelectorAll('tr')].map(r => r.lastElementChild.getBoundingClientRect().right);
document.body.setAttribute('data-right', Math.max(...rights));
document.body.setAttribute('data-width', document.documentElement.clientWidth);
document.body.setAttribute('data-scroll', document.documentElement.scrollWidth);
</script></body>"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("long-names")
    spec = DomainSpec(NAME, clipboard=True, shares=(Share("s" * 300, f"{root}/home{PATH}", read_only=False),))
    lab = write_lab(root, [spec], ["*"])
    run_cli(main, ["audit", "-i", str(lab.inventory), "--out", str(root / "out")])
    report = root / "out" / "latest" / "report.json"
    (root / "host-a.json").write_bytes(report.read_bytes())
    run_cli(main, ["report", "merge", str(root / "host-a.json"), "--out", str(root / "fleet")])
    return {"report": root / "out" / "latest" / "report.html", "fleet": root / "fleet" / "fleet.html"}


def _render(page: Path, target: Path, *, wrap: bool = True):
    """The page's DOM after layout in Chromium, with the measurements on <body>."""
    html = page.read_text().replace(CSP, "").replace("</body>", MEASURE)
    if not wrap:  # the control: without the wrapping rule the column is pushed off
        html = html.replace("overflow-wrap: anywhere;", "")
    target.write_text(html)
    dom = dump_dom(target.parent, target)
    body = next(attrs for tag, attrs in dom.tags if tag == "body")
    return dom, {k: float(body[f"data-{k}"]) for k in ("right", "width", "scroll")}


@pytest.mark.parametrize("kind", ["report", "fleet"])
def test_bidi_shown_long_names_wrap_fix_column_on_screen(reports, kind, tmp_path):
    html = reports[kind].read_text()
    assert CSP in html
    assert_inert(html)
    assert "evil\\u202egpj.exe\\u2066\\u0085AAAA" in html
    dom, size = _render(reports[kind], tmp_path / "measured.html")
    text = "".join(dom.text)
    assert "\u202e" not in text and "evil\\u202egpj.exe" in text
    assert size["right"] <= size["width"] + 1, size
    assert size["scroll"] <= size["width"], size
    _, pushed = _render(reports[kind], tmp_path / "control.html", wrap=False)
    assert pushed["right"] > pushed["width"], pushed  # the check can fail


def test_csp_is_the_same_in_both_templates():
    templates = Path(__file__).resolve().parents[2] / "vmguard"
    found = {
        re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', p.read_text()).group(0)
        for p in (
            templates / "audit/reports/templates/report.html.j2",
            templates / "fleet/templates/fleet.html.j2",
        )
    }
    assert found == {CSP}
