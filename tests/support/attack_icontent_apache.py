"""A private Apache 2.4 (Debian's apache2-bin) for test_attack_independent_icontent.py
and the tests after it: Debian's own mime.conf (the installed one, else a copy of
apache2's: that package's postinst would start a server, so .ci installs apache2-bin
alone) and mime.types, loopback only, a port of its own, stopped by the test. It answers what Content-Type a public area
served by Apache sends for a published name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

APACHE = Path("/usr/sbin/apache2")
_DEBIAN_MIME_CONF = Path("/etc/apache2/mods-available/mime.conf")
MIME_CONF = _DEBIAN_MIME_CONF if _DEBIAN_MIME_CONF.exists() else Path(__file__).parent / "data" / "apache2-mime.conf"
MODULES = Path("/usr/lib/apache2/modules")


def available() -> bool:
    return APACHE.exists() and MIME_CONF.exists() and (MODULES / "mod_mime.so").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(root: Path, port: int, types: Path | None = None) -> str:
    # `types`: an upstream httpd's typing instead of Debian's mime.conf (its own
    # conf/mime.types as TypesConfig, httpd.conf's default AddType for .gz .tgz .Z)
    mime = (
        [f"TypesConfig {types}", "AddType application/x-gzip .gz .tgz"] if types else [f"Include {MIME_CONF}"]
    )
    return "\n".join([
        f"ServerRoot {root}", "ServerName localhost", f"Listen 127.0.0.1:{port}",
        f"PidFile {root}/httpd.pid", f"ErrorLog {root}/error.log",
        f"LoadModule mpm_event_module {MODULES}/mod_mpm_event.so",
        f"LoadModule authz_core_module {MODULES}/mod_authz_core.so",
        f"LoadModule mime_module {MODULES}/mod_mime.so", *mime,
        "User www-data", "Group www-data", f"DocumentRoot {root}/www",
        f"<Directory {root}/www>", "  Require all granted", "</Directory>", "",
    ])  # fmt: skip


@contextlib.contextmanager
def serving(names: list[str], types: Path | None = None) -> Iterator[dict[str, str]]:
    """Serve an empty-bodied file of each name; yield {name: Content-Type sent}; `types`:
    the mime.types an upstream httpd types by, instead of Debian's mime.conf."""
    root = Path(tempfile.mkdtemp(prefix="attack-i-apache-"))
    os.chmod(root, 0o755)  # noqa: S103 (apache's children run as www-data and must read it)
    (root / "www").mkdir(mode=0o755)
    for name in names:
        (root / "www" / name).write_bytes(b"{}\n")
        os.chmod(root / "www" / name, 0o644)
    port = _free_port()
    (root / "httpd.conf").write_text(_config(root, port, types))
    conf = ["-f", str(root / "httpd.conf")]
    subprocess.run([str(APACHE), *conf, "-k", "start"], check=True, capture_output=True, timeout=30)
    try:
        yield {name: _content_type(port, name) for name in names}
    finally:
        subprocess.run([str(APACHE), *conf, "-k", "stop"], check=False, capture_output=True, timeout=30)
        _wait_gone(root / "httpd.pid")
        shutil.rmtree(root, ignore_errors=True)


def _content_type(port: int, name: str) -> str:
    url = f"http://127.0.0.1:{port}/{urllib.parse.quote(name)}"
    for _ in range(50):  # the server may take a moment to listen
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 (loopback, http)
                return reply.headers.get("Content-Type") or ""
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"apache did not answer for {name}")


def _wait_gone(pid_file: Path) -> None:
    for _ in range(50):
        if not pid_file.exists():
            return
        time.sleep(0.1)
