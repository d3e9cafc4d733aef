"""Independent attacks on vet's scanners (issue #20), through `vmguard vet` as a job runner runs it.

Each test asserts the SECURE behaviour: a secret or a signature hit never reaches the
public area; a clamd that cannot be trusted stops the vet (exit 3) with nothing published.
Holes (and gaps the guide admits) are strict xfails whose reason says what leaks.
The content attacks share one vet (per-file, so each file's own verdict shows) of one
quarantine under the shipped batch policy (policy/base.yaml + batch.yaml, only clamd's
socket pointed at the test's clamd), and one under a site policy with its own rule.
"""

from __future__ import annotations

import base64
import codecs
import gzip
import hashlib
import io
import json
import mmap
import os
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from tests.quarantine.conftest import write
from tests.support.clamd import EICAR, MARKER, ClamdServer

REPO = Path(__file__).resolve().parents[3]
SITE_TOKEN = "LABTOKEN-3f9a6c0d2b7e41a8"
SITE_RULE = 'rule lab_token { strings: $t = "LABTOKEN-" ascii wide condition: $t }\n'


# ---------------------------------------------------------------- running vet


def shipped_policy(tmp: Path, sock: str, site: str = "") -> Path:
    """policy/base.yaml + batch.yaml copied unchanged but for clamd's socket; `site` appended as a role."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("base.yaml", "batch.yaml"):
        text = (REPO / "policy" / name).read_text().replace("/run/clamav/clamd.ctl", sock)
        (tmp / name).write_text(text)
    if not site:
        return tmp / "batch.yaml"
    (tmp / "site.yaml").write_text(site)
    return tmp / "site.yaml"


def site_policy(tmp: Path, sock: str, clamd_timeout: str = "120s", in_flight: int = 4) -> Path:
    rules = tmp / "site.yar"
    tmp.mkdir(parents=True, exist_ok=True)
    rules.write_text(SITE_RULE)
    role = f"""apiVersion: vmguard/v1
kind: Policy
metadata: {{name: site-batch}}
extends: batch.yaml
spec:
  quarantine:
    allow_types: [text, csv, json, root, fits, hdf5, gzip, tar]
    scanners:
      clamd: {{socket: {sock}, timeout: {clamd_timeout}, in_flight: {in_flight}}}
      yara: {{rules: [{rules}], shipped: true}}
"""
    return shipped_policy(tmp, sock, role)


def vet(q: Path, policy: Path, to: Path, *extra: str, timeout: float = 240) -> tuple[int, dict | None, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(policy), "--to", str(to)]
    argv += ["--job", "j", "--format", "json", "-q", *extra]
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        report = None
    return run.returncode, report, run.stderr


def public_bytes(pub: Path) -> bytes:
    """Every byte under the public directory (output and sidecars), concatenated."""
    return b"".join(p.read_bytes() for p in sorted(pub.rglob("*")) if p.is_file() and not p.is_symlink())


# ---------------------------------------------------------------- secrets, made by real tools


def run(*argv: str, cwd: Path | None = None) -> bytes:
    return subprocess.run(argv, check=True, capture_output=True, cwd=cwd).stdout


class Keys:
    def __init__(self, tmp: Path) -> None:
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "x", "-f", str(tmp / "id"))
        self.ssh = (tmp / "id").read_bytes()
        self.rsa = run("openssl", "genrsa", "-traditional", "1024")
        self.pkcs8 = run("openssl", "genpkey", "-algorithm", "ed25519")
        self.enc = run("openssl", "genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:x")
        self.ec = run("openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout")
        (tmp / "rsa.pem").write_bytes(self.rsa)
        cert = run(
            "openssl", "req", "-x509", "-new", "-key", str(tmp / "rsa.pem"), "-subj", "/CN=alice/CN=proxy"
        )
        self.proxy = cert + self.rsa + cert
        home = tmp / "gnupg"
        home.mkdir(mode=0o700)
        gpg = ("gpg", "--batch", "--homedir", str(home), "--pinentry-mode", "loopback", "--passphrase", "")
        run(*gpg, "--quick-gen-key", "alice@example.org", "ed25519", "sign", "1d")
        self.pgp = run(*gpg, "--armor", "--export-secret-keys", "alice@example.org")
        run("gpgconf", "--homedir", str(home), "--kill", "gpg-agent")  # gpg started it: no daemon left


def keytab() -> bytes:
    """MIT keytab v2 (0x0502), one entry: alice@EXAMPLE.ORG, aes256 key."""

    def s(b: bytes) -> bytes:
        return struct.pack(">H", len(b)) + b

    entry = struct.pack(">H", 1) + s(b"EXAMPLE.ORG") + s(b"alice") + struct.pack(">IIB", 1, 1700000000, 1)
    entry += struct.pack(">H", 18) + s(bytes(range(32))) + struct.pack(">I", 1)
    return b"\x05\x02" + struct.pack(">i", len(entry)) + entry


def ccache(version: int = 4) -> bytes:
    """MIT credential cache (FILE:), v4 with its header or v3 without, default principal only + one cred."""

    def s(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    princ = struct.pack(">II", 1, 1) + s(b"EXAMPLE.ORG") + s(b"alice")
    server = struct.pack(">II", 1, 2) + s(b"EXAMPLE.ORG") + s(b"krbtgt") + s(b"EXAMPLE.ORG")
    cred = princ + server + struct.pack(">H", 18) + s(bytes(range(32)))
    cred += struct.pack(">IIIIBI", 1, 1, 2, 3, 0, 0x40E10000) + s(b"") + s(b"") + s(b"\x61" * 300) + s(b"")
    head = (
        b"\x05\x04" + struct.pack(">H", 12) + struct.pack(">HH", 1, 8) + b"\0" * 8
        if version == 4
        else b"\x05\x03"
    )
    return head + princ + cred


AWS_ID, AWS_SECRET = "AKIAQ3EGRSTUVWXYZ4AB", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8mP2Lk9w"
GCP_API = "AIzaSyD4-fakeKeyFor9TestsOnly_abcdefghij"
AZURE_KEY = base64.b64encode(bytes(range(7, 71))).decode()
JWT = b".".join(
    base64.urlsafe_b64encode(x).rstrip(b"=")
    for x in (
        b'{"alg":"RS256","typ":"JWT","kid":"k1"}',
        b'{"sub":"alice","aud":"lab","exp":1900000000,"scope":"storage"}',
        bytes(range(256)),
    )
)
SHADOW = {
    "sha512": "root:$6$Xk9fL2pQ$1nUu0jXZ6Y3yP0gk2b8M5.RtY6q4gH8sQfV1c3KzO7WvE9aLmN2pB5dC8eF0hI3jK6lM9nO2pQ5rS8tU1vW4x/:19700:0:99999:7:::",
    "yescrypt": "alice:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7:19700:0:99999:7:::",
    "bcrypt": "bob:$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW:19700:0:99999:7:::",
    "md5": "carol:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/:19700:0:99999:7:::",
    "sha512-rounds": "dave:$6$rounds=656000$Xk9fL2pQ$1nUu0jXZ6Y3yP0gk2b8M5.RtY6q4gH8sQfV1c3KzO7WvE9aLmN2pB5dC8eF0hI3jK6lM9nO2pQ5rS8tU1vW4x/:19700::::::",
    "des": "erin:abJnggxhB/yWI:19700:0:99999:7:::",
    "passwd-with-hash": "root:$6$Xk9fL2pQ$1nUu0jXZ6Y3yP0gk2b8M5.RtY6q4gH8sQfV1c3KzO7WvE9aLmN2pB5dC8eF0hI3jK6lM9nO2pQ5rS8tU1vW4x/:0:0:root:/root:/bin/bash",
}


# ---------------------------------------------------------------- the guest's forms


def lines(b: bytes) -> list[bytes]:
    return b.strip().split(b"\n")


def gz(b: bytes, n: int = 1) -> bytes:
    for _ in range(n):
        b = gzip.compress(b, mtime=0)
    return b


def tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def filler(size: int, seed: str = "event") -> bytes:
    line = f"{seed} 000000 energy=13.6 eta=0.42 phi=-1.5 ok\n".encode()
    return (line * (size // len(line) + 1))[:size]


def middle(secret: bytes, size: int = 40 << 20) -> bytes:
    half = filler(size // 2)
    return half + b"\n" + secret + b"\n" + half


def fits_file(cards: list[bytes], data: bytes = b"") -> bytes:
    import numpy as np
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.frombuffer(data, dtype=np.uint8) if data else None)
    for card in cards:
        hdu.header.add_comment(card.decode())
    buf = io.BytesIO()
    hdu.writeto(buf)
    return buf.getvalue()


def hdf5_file(tmp: Path, attr: str = "", data: bytes = b"", compress: bool = False) -> bytes:
    import h5py
    import numpy as np

    path = tmp / f"h5-{len(attr)}-{len(data)}-{compress}.h5"
    with h5py.File(path, "w") as fh:
        if attr:
            fh.attrs["note"] = attr
        if data:
            kw = {"compression": "gzip", "chunks": True} if compress else {}
            fh.create_dataset("raw", data=np.frombuffer(data, dtype=np.uint8), **kw)
    return path.read_bytes()


def root_file(tmp: Path, text: str, compressed: bool) -> bytes:
    import uproot

    path = tmp / f"r-{compressed}.root"
    with uproot.recreate(path, compression=uproot.ZLIB(1) if compressed else None) as fh:
        fh["note"] = text
    return path.read_bytes()


def json_unicode_escaped(text: str) -> bytes:
    return ('{"note": "' + "".join(f"\\u{ord(c):04x}" for c in text) + '"}').encode()


# ---------------------------------------------------------------- the content attacks


def content_attacks(k: Keys, tmp: Path) -> dict[str, bytes]:
    ssh, ssh_s = k.ssh, k.ssh.decode()
    body = b"".join(lines(ssh)[1:-1])
    half = len(lines(ssh)) // 2
    aws_file = f"[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n"
    gcp_sa = json.dumps(
        {
            "type": "service_account",
            "project_id": "lab",
            "private_key_id": "0" * 40,
            "private_key": k.pkcs8.decode(),
            "client_email": "x@lab.iam.gserviceaccount.com",
        }
    )
    return {
        # private keys, in forms the guest chooses
        "ssh-plain.txt": ssh,
        "ssh-crlf.txt": ssh.replace(b"\n", b"\r\n"),
        "ssh-cr-only.txt": ssh.replace(b"\n", b"\r"),
        "ssh-indented.txt": b"\n".join(b"    " + x for x in lines(ssh)) + b"\n",
        "ssh-tab-trailing-ws.txt": b"\n".join(b"\t" + x + b" \t " for x in lines(ssh)) + b"\n",
        "ssh-one-line.txt": b"".join(lines(ssh)) + b"\n",
        "ssh-body-only.txt": body + b"\n",
        "ssh-utf16le.txt": codecs.BOM_UTF16_LE + ssh_s.encode("utf-16-le"),
        "ssh-utf16be.txt": codecs.BOM_UTF16_BE + ssh_s.encode("utf-16-be"),
        "ssh-utf32le.txt": codecs.BOM_UTF32_LE + ssh_s.encode("utf-32-le"),
        "ssh-base64-whole.txt": base64.b64encode(ssh) + b"\n",
        "ssh-base64-wrapped.txt": base64.encodebytes(ssh),
        "ssh-base64-per-line.txt": b"".join(base64.b64encode(x) + b"\n" for x in lines(ssh)),
        "ssh-base64-in-json.json": json.dumps({"blob": base64.b64encode(ssh).decode()}).encode(),
        "ssh-hex.txt": ssh.hex().encode() + b"\n",
        "ssh-in-json.json": json.dumps({"key": ssh_s}).encode(),
        "ssh-json-u-escaped.json": json_unicode_escaped(ssh_s),
        "ssh-csv-cell.csv": b'id,key\n1,"' + ssh + b'"\n',
        "ssh-csv-row-of-lines.csv": b"id," + b",".join(lines(ssh)) + b"\n",
        "ssh-gzip.gz": gz(ssh),
        "ssh-gzip-in-gzip.gz": gz(ssh, 2),
        "ssh-gzip-x3.gz": gz(ssh, 3),
        "ssh-gzip-x4.gz": gz(ssh, 4),
        "ssh-tar-in-gzip.tar.gz": gz(tar({"keys/id": ssh})),
        "ssh-middle-of-40MiB.txt": middle(ssh),
        "ssh-utf16-middle-of-8MiB.txt": codecs.BOM_UTF16_LE
        + middle(ssh, 8 << 20).decode().encode("utf-16-le"),
        "ssh-gzip-straddling-16MiB.gz": gz(filler((16 << 20) - 200) + ssh + filler(1 << 20)),
        "ssh-fits-comment-cards.fits": fits_file(lines(ssh)),
        "ssh-fits-image-data.fits": fits_file([], ssh),
        "ssh-hdf5-attribute.h5": hdf5_file(tmp, attr=ssh_s),
        "ssh-hdf5-dataset.h5": hdf5_file(tmp, data=ssh),
        "ssh-hdf5-dataset-gzip-filter.h5": hdf5_file(tmp, data=ssh, compress=True),
        "ssh-root-tobjstring.root": root_file(tmp, ssh_s, compressed=False),
        "ssh-root-tobjstring-zlib.root": root_file(tmp, ssh_s, compressed=True),
        "split-half-1.txt": b"\n".join(lines(ssh)[:half]) + b"\n",
        "split-half-2.txt": b"\n".join(lines(ssh)[half:]) + b"\n",
        "pem-rsa.txt": k.rsa,
        "pem-rsa-crlf.txt": k.rsa.replace(b"\n", b"\r\n"),
        "pem-pkcs8.txt": k.pkcs8,
        "pem-pkcs8-encrypted.txt": k.enc,
        "pem-ec.txt": k.ec,
        "pem-rsa-base64-whole.txt": base64.b64encode(k.rsa) + b"\n",
        "pgp-armored.txt": k.pgp,
        "pgp-armored-in-json.json": json.dumps({"k": k.pgp.decode()}).encode(),
        "x509-proxy.txt": k.proxy,
        "x509-proxy-in-gzip.gz": gz(k.proxy),
        # Kerberos
        "keytab-v2.bin": keytab(),
        "keytab-in-fits-data.fits": fits_file([], keytab()),
        "keytab-in-hdf5-dataset.h5": hdf5_file(tmp, data=keytab() + b"\0"),
        "keytab-base64-whole.txt": base64.b64encode(keytab()) + b"\n",
        "keytab-base64-in-json.json": json.dumps({"kt": base64.b64encode(keytab()).decode()}).encode(),
        "ccache-v4.bin": ccache(4),
        "ccache-v3.bin": ccache(3),
        "ccache-v4-in-fits-data.fits": fits_file([], ccache(4)),
        # shadow-style lines
        **{f"shadow-{name}.txt": (line + "\n").encode() for name, line in SHADOW.items()},
        "shadow-sha512-in-json.json": json.dumps({"root": SHADOW["sha512"]}).encode(),
        "shadow-sha512-utf16.txt": codecs.BOM_UTF16_LE + SHADOW["sha512"].encode("utf-16-le"),
        # cloud credentials
        "aws-credentials.txt": aws_file.encode(),
        "aws-env.txt": f"export AWS_ACCESS_KEY_ID={AWS_ID}\nexport AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n".encode(),
        "aws-sts.json": json.dumps(
            {
                "Credentials": {
                    "AccessKeyId": "ASIA" + AWS_ID[4:],
                    "SecretAccessKey": AWS_SECRET,
                    "SessionToken": "FwoGZXIvYXdzE" + "A" * 200,
                }
            }
        ).encode(),
        "aws-secret-only.txt": f"aws_secret_access_key={AWS_SECRET}\n".encode(),
        "aws-credentials-utf16.txt": codecs.BOM_UTF16_LE + aws_file.encode("utf-16-le"),
        "aws-credentials-gzip.gz": gz(aws_file.encode()),
        "gcp-service-account.json": gcp_sa.encode(),
        "gcp-api-key.txt": f"key={GCP_API}\n".encode(),
        "gcp-authorized-user.json": json.dumps(
            {
                "type": "authorized_user",
                "client_id": "1.apps.googleusercontent.com",
                "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
                "refresh_token": "1//0gdTRjNkK3Yw-CgYIARAAGBASNwF-L9IrXm",
            }
        ).encode(),
        "azure-storage-connstr.txt": f"DefaultEndpointsProtocol=https;AccountName=lab;AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net\n".encode(),
        "azure-sp.json": json.dumps(
            {
                "appId": "00000000-1111-2222-3333-444444444444",
                "password": "Qx8Q~abcdefghijklmnopqrstuvwxyz0123456",
                "tenant": "55555555-6666-7777-8888-999999999999",
            }
        ).encode(),
        "azure-sas-url.txt": b"https://lab.blob.core.windows.net/c?sv=2021-06-08&ss=b&srt=sco&sp=rwdlac&se=2027-01-01T00:00:00Z&sig=3kS%2Bq1lW0X2bE8Yh5v4QmJrN6tP7uA9cD0eF1gH2iJ3%3D\n",
        # password files
        "netrc.txt": b"machine cvs.lab.example login alice password s3cr3t-Pw\n",
        "netrc-multiline.txt": b"machine cvs.lab.example\n  login alice\n  password s3cr3t-Pw\n",
        "htpasswd.txt": b"alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n",
        "mysql-option-file.txt": b"[client]\nuser=alice\npassword=s3cr3t-Pw\n",
        "pgpass.txt": b"db.lab.example:5432:calib:alice:s3cr3t-Pw\n",
        "git-credentials.txt": b"https://alice:ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8@github.com\n",
        "bearer-token.txt": b"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl\n",
        "bearer-token-jwt-long.txt": b"Authorization: Bearer " + JWT + b"\n",
        "bearer-token-google.txt": b"Authorization: Bearer ya29.a0AfB_byC1d2E3f4G5h6I7j8K9l0M1n2O3p4Q5r6S7t8U9v0W1x2Y3z4A5b6C7d8E9f0\n",
        # clamd signatures in allowed formats
        "marker-plain.txt": b"log line\n" + MARKER + b"\n",
        "marker-gzip-in-gzip.gz": gz(b"log\n" + MARKER + b"\n", 2),
        "marker-middle-of-40MiB.txt": middle(MARKER),
        "marker-in-json.json": json.dumps({"m": MARKER.decode()}).encode(),
        "marker-fits-data.fits": fits_file([], MARKER),
        "eicar.txt": EICAR,
    }


def site_attacks(tmp: Path) -> dict[str, bytes]:
    token = f"token={SITE_TOKEN}\n"
    return {
        "site-plain.txt": token.encode(),
        "site-utf16.txt": codecs.BOM_UTF16_LE + token.encode("utf-16-le"),
        "site-tar-in-gzip.tar.gz": gz(tar({"a/b.txt": token.encode()})),
        "site-tar.tar": tar({"deep/x.json": json.dumps({"t": SITE_TOKEN}).encode()}),
        "site-gzip-in-tar.tar": tar({"x.gz": gz(token.encode())}),
        "site-middle-of-24MiB.txt": middle(token.encode(), 24 << 20),
        "site-hdf5-attribute.h5": hdf5_file(tmp, attr=token),
        "site-root-tobjstring.root": root_file(tmp, token, compressed=False),
        "site-fits-card.fits": fits_file([token.strip().encode()]),
    }


# Strict xfails: what leaks. "HOLE" contradicts what README/docs promise; "LIMIT" is a gap
# the guide itself states (the "never leaves" still does not hold for it).
ENC = "LIMIT (guide: 'encodings other than UTF-16 and whole-file base64' are not looked into): "
PACKED = "LIMIT (guide: 'data compressed inside the lab's formats' is not looked into): "
LEAKS: dict[str, str] = {
    "ssh-hex.txt": ENC + "the key as hex is published",
    "ssh-hdf5-dataset-gzip-filter.h5": PACKED
    + "the key in an HDF5 dataset with the gzip filter is published",
    "ssh-root-tobjstring-zlib.root": PACKED + "the key in a zlib-compressed ROOT TObjString is published",
    "keytab-base64-in-json.json": ENC + "a keytab base64-encoded in a JSON string is published",
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Keys:
    return Keys(tmp_path_factory.mktemp("keys"))


def vet_all(tmp: Path, files: dict[str, bytes], policy: Path) -> tuple[int, dict, Path]:
    q, pub = tmp / "q", tmp / "pub"
    for name, data in files.items():
        write(q / name, data)
    pub.mkdir()
    rc, report, err = vet(q, policy, pub / "out", "--per-file")
    assert report is not None, (rc, err)
    return rc, report, pub


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory, keys, clamd_server):
    tmp = tmp_path_factory.mktemp("batch")
    files = content_attacks(keys, tmp)
    return files, *vet_all(tmp, files, shipped_policy(tmp / "policy", clamd_server.socket))


@pytest.fixture(scope="module")
def site_run(tmp_path_factory, clamd_server):
    tmp = tmp_path_factory.mktemp("site")
    files = site_attacks(tmp)
    return files, *vet_all(tmp, files, site_policy(tmp / "policy", clamd_server.socket))


def assert_kept(run_, name: str) -> None:
    files, rc, report, pub = run_
    entry = {e["path"]: e for e in report["entries"]}[name]
    assert entry["verdict"] == "rejected", entry
    assert not (pub / "out" / name).exists()
    assert rc == 1


def params(names, leaks=LEAKS):
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=leaks[n])) if n in leaks else n
        for n in names
    ]


CONTENT_NAMES = [
    "ssh-plain.txt",
    "ssh-crlf.txt",
    "ssh-cr-only.txt",
    "ssh-indented.txt",
    "ssh-tab-trailing-ws.txt",
    "ssh-one-line.txt",
    "ssh-body-only.txt",
    "ssh-utf16le.txt",
    "ssh-utf16be.txt",
    "ssh-utf32le.txt",
    "ssh-base64-whole.txt",
    "ssh-base64-wrapped.txt",
    "ssh-base64-per-line.txt",
    "ssh-base64-in-json.json",
    "ssh-hex.txt",
    "ssh-in-json.json",
    "ssh-json-u-escaped.json",
    "ssh-csv-cell.csv",
    "ssh-csv-row-of-lines.csv",
    "ssh-gzip.gz",
    "ssh-gzip-in-gzip.gz",
    "ssh-gzip-x3.gz",
    "ssh-gzip-x4.gz",
    "ssh-tar-in-gzip.tar.gz",
    "ssh-middle-of-40MiB.txt",
    "ssh-utf16-middle-of-8MiB.txt",
    "ssh-gzip-straddling-16MiB.gz",
    "ssh-fits-comment-cards.fits",
    "ssh-fits-image-data.fits",
    "ssh-hdf5-attribute.h5",
    "ssh-hdf5-dataset.h5",
    "ssh-hdf5-dataset-gzip-filter.h5",
    "ssh-root-tobjstring.root",
    "ssh-root-tobjstring-zlib.root",
    "pem-rsa.txt",
    "pem-rsa-crlf.txt",
    "pem-pkcs8.txt",
    "pem-pkcs8-encrypted.txt",
    "pem-ec.txt",
    "pem-rsa-base64-whole.txt",
    "pgp-armored.txt",
    "pgp-armored-in-json.json",
    "x509-proxy.txt",
    "x509-proxy-in-gzip.gz",
    "keytab-v2.bin",
    "keytab-in-fits-data.fits",
    "keytab-in-hdf5-dataset.h5",
    "keytab-base64-whole.txt",
    "keytab-base64-in-json.json",
    "ccache-v4.bin",
    "ccache-v3.bin",
    "ccache-v4-in-fits-data.fits",
    *(f"shadow-{n}.txt" for n in SHADOW),
    "shadow-sha512-in-json.json",
    "shadow-sha512-utf16.txt",
    "aws-credentials.txt",
    "aws-env.txt",
    "aws-sts.json",
    "aws-secret-only.txt",
    "aws-credentials-utf16.txt",
    "aws-credentials-gzip.gz",
    "gcp-service-account.json",
    "gcp-api-key.txt",
    "gcp-authorized-user.json",
    "azure-storage-connstr.txt",
    "azure-sp.json",
    "azure-sas-url.txt",
    "netrc.txt",
    "netrc-multiline.txt",
    "htpasswd.txt",
    "mysql-option-file.txt",
    "pgpass.txt",
    "git-credentials.txt",
    "bearer-token.txt",
    "bearer-token-jwt-long.txt",
    "bearer-token-google.txt",
    "marker-plain.txt",
    "marker-gzip-in-gzip.gz",
    "marker-middle-of-40MiB.txt",
    "marker-in-json.json",
    "marker-fits-data.fits",
    "eicar.txt",
]
SITE_NAMES = [
    "site-plain.txt",
    "site-utf16.txt",
    "site-tar-in-gzip.tar.gz",
    "site-tar.tar",
    "site-gzip-in-tar.tar",
    "site-middle-of-24MiB.txt",
    "site-hdf5-attribute.h5",
    "site-root-tobjstring.root",
    "site-fits-card.fits",
]


def test_names_cover_every_attack(keys, tmp_path):
    split = ["split-half-1.txt", "split-half-2.txt"]  # test_split_key_never_fully_published
    assert sorted(CONTENT_NAMES + split) == sorted(content_attacks(keys, tmp_path))


@pytest.mark.parametrize("name", params(CONTENT_NAMES))
def test_shipped_batch_policy_keeps_secret(batch_run, name):
    assert_kept(batch_run, name)


@pytest.mark.parametrize("name", params(SITE_NAMES))
def test_site_rule_keeps_secret(site_run, name):
    assert_kept(site_run, name)


def test_split_key_never_fully_published(batch_run):
    """The two halves of one key in two files: the public area must not hold both."""
    files, rc, report, pub = batch_run
    published = public_bytes(pub / "out")
    assert not (files["split-half-1.txt"] in published and files["split-half-2.txt"] in published)


def test_control_clean_files_pass(tmp_path, clamd_server):
    """Control: the same policy publishes clean look-alikes (so the rejections above mean something)."""
    q = tmp_path / "q"
    write(q / "log.txt", "BEGIN of run; key = value; private: no\n")
    write(q / "d.json", json.dumps({"aws_region": "eu-west-1", "user": "alice"}))
    write(q / "x.gz", gz(b"plain log\n", 2))
    rc, report, err = vet(q, shipped_policy(tmp_path / "p", clamd_server.socket), tmp_path / "out")
    assert rc == 0, (report, err)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["d.json", "log.txt", "x.gz"]


# ---------------------------------------------------------------- clamd: killed, slowed, impersonated, limited


def nothing_published(pub: Path) -> None:
    """No output, no manifest or report, and no staged tree left behind."""
    assert not (pub / "out").exists()
    left = [p.name for p in pub.iterdir() if p.name != ".vmguard-staging"]
    assert left == [], left
    staging = pub / ".vmguard-staging"
    assert not staging.exists() or not [p for p in staging.iterdir() if p.name.endswith(".staging")]


def busy_quarantine(q: Path, files: int = 60, size: int = 1 << 20) -> None:
    for i in range(files):
        write(q / f"f{i:03d}.txt", filler(size, seed=f"e{i}"))
    write(q / "zz-marker.txt", b"x\n" + MARKER + b"\n")


def test_clamd_unreachable_exit_3(tmp_path, own_clamd):
    q, pub = tmp_path / "q", tmp_path / "pub"
    write(q / "a.txt", b"clean\n")
    pub.mkdir()
    policy = shipped_policy(tmp_path / "p", own_clamd.socket)
    own_clamd.stop()
    rc, _, err = vet(q, policy, pub / "out")
    assert rc == 3, err
    nothing_published(pub)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "stopped"])
def test_clamd_killed_or_stopped_mid_vet_exit_3(tmp_path, own_clamd, sig):
    """clamd SIGKILLed (connection lost) or SIGSTOPped (no answer within a 3 s timeout) once the vet runs."""
    q, pub = tmp_path / "q", tmp_path / "pub"
    busy_quarantine(q)
    pub.mkdir()
    policy = site_policy(tmp_path / "p", own_clamd.socket, clamd_timeout="3s")
    # Once the vet has begun staging (not after a fixed delay: a faster vet of these
    # 60 MiB could be done by then and rightly exit 1 for the marker).
    started, done = pub / ".vmguard-staging", threading.Event()
    watcher = threading.Thread(target=_signal_once_staging, args=(started, done, own_clamd, sig))
    watcher.start()
    try:
        rc, _, err = vet(q, policy, pub / "out", timeout=120)
    finally:
        done.set()
        watcher.join()
    assert rc == 3, err
    nothing_published(pub)


def _signal_once_staging(staging: Path, done: threading.Event, clamd, sig: int) -> None:  # noqa: ANN001
    while not done.wait(0.005):
        if staging.exists() and any(staging.iterdir()):
            clamd.signal(sig)
            return


class FakeClamd:
    """A listener on clamd's socket path that speaks enough of its protocol and says every file is clean.

    `probe_aware`: it also answers the limits probe (a file over 4 GiB) as real clamd with
    AlertExceedsMax does, so only a check of who listens could tell it from clamd.
    """

    def __init__(self, path: str, probe_aware: bool) -> None:
        self.path, self.probe_aware = path, probe_aware
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.files = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.client, args=(conn,), daemon=True).start()

    def verdict(self, fd: int) -> bytes:
        self.files += 1
        big = os.fstat(fd).st_size > 1 << 32
        os.close(fd)
        return b"Heuristics.Limits.Exceeded.MaxFileSize FOUND" if big and self.probe_aware else b"OK"

    def client(self, conn: socket.socket) -> None:
        buf, fds, session, n = b"", [], False, 0
        with conn:
            while True:
                try:
                    data, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
                except OSError:
                    return
                for level, kind, raw in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds += list(struct.unpack(f"{len(raw) // 4}i", raw[: len(raw) // 4 * 4]))
                if not data:
                    return
                buf += data
                while b"\0" in buf or b"\n" in buf:
                    end = min(i for i in (buf.find(b"\0"), buf.find(b"\n")) if i >= 0)
                    cmd, buf = buf[:end].lstrip(b"zn"), buf[end + 1 :]
                    if not cmd:  # the byte that carried a descriptor
                        continue
                    if cmd == b"IDSESSION":
                        session = True
                        continue
                    if cmd == b"END":
                        return
                    n += 1
                    if cmd == b"PING":
                        reply = b"PONG"
                    elif cmd == b"VERSION":
                        reply = b"ClamAV 1.0.7/27480/Thu Dec  3 09:00:00 2026"
                    elif cmd == b"FILDES":
                        while not fds:
                            data, anc, _, _ = conn.recvmsg(1, socket.CMSG_SPACE(16 * 4))
                            for _, _, raw in anc:
                                fds += list(struct.unpack(f"{len(raw) // 4}i", raw[: len(raw) // 4 * 4]))
                            buf += data
                        fd = fds.pop(0)
                        reply = b"fd[%d]: " % fd + self.verdict(fd)
                    else:
                        reply = cmd + b": OK"
                    prefix = b"%d: " % n if session else b""
                    conn.sendall(prefix + reply + b"\0")

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("probe_aware", [False, True], ids=["says-ok-to-all", "answers-probe"])
def test_fake_listener_on_clamd_socket_not_trusted(tmp_path, probe_aware):
    q, pub = tmp_path / "q", tmp_path / "pub"
    write(q / "a.txt", b"clean\n")
    write(q / "m.txt", MARKER + b"\n")
    write(q / "e.txt", EICAR)
    pub.mkdir()
    fake = FakeClamd(str(tmp_path / "clamd.sock"), probe_aware)
    try:
        rc, report, err = vet(q, shipped_policy(tmp_path / "p", fake.sock.getsockname()), pub / "out")
    finally:
        fake.close()
    assert rc == 3, (rc, report, err)
    # refused for who listens (SO_PEERCRED: this listener is not clamd), not for a protocol slip
    assert "is not clamd" in err, err
    nothing_published(pub)


@pytest.mark.parametrize("alert", [True, False], ids=["alert-exceeds-max", "silent-limits"])
def test_clamd_size_limit_never_passes_unscanned(tmp_path, alert):
    """A clamd with MaxFileSize 1M: a 2 MiB file with the marker at its end is rejected by name
    (AlertExceedsMax yes), or the vet refuses that clamd (exit 3, Debian's default: no)."""
    server = ClamdServer(tmp_path / "clamd", threads=2, alert_exceeds_max=alert, max_file_size="1M").start()
    try:
        q, pub = tmp_path / "q", tmp_path / "pub"
        write(q / "big.txt", filler(2 << 20) + MARKER + b"\n")
        write(q / "small.txt", b"clean\n")
        pub.mkdir()
        rc, report, err = vet(q, shipped_policy(tmp_path / "p", server.socket), pub / "out", "--per-file")
    finally:
        server.stop()
    assert not (pub / "out" / "big.txt").exists()
    if alert:
        entry = {e["path"]: e for e in report["entries"]}["big.txt"]
        assert rc == 1 and "Limits.Exceeded" in entry["detail"], entry
    else:
        assert rc == 3, (report, err)
        nothing_published(pub)


def test_many_files_exhaust_clamd_timeout(tmp_path, own_clamd):
    """3000 files, a 1 s timeout, 64 in flight on a 2-thread clamd: a timeout is exit 3, never a pass
    (and never a per-file 'rejected' for clamd's own slowness); the marker never gets out."""
    q, pub = tmp_path / "q", tmp_path / "pub"
    for i in range(3000):
        write(q / f"d{i // 500}" / f"f{i}.txt", f"event {i}\n" * 50)
    write(q / "d5" / "zz.txt", MARKER + b"\n")
    pub.mkdir()
    policy = site_policy(tmp_path / "p", own_clamd.socket, clamd_timeout="1s", in_flight=64)
    rc, report, err = vet(q, policy, pub / "out", "--per-file")
    assert not (pub / "out" / "d5" / "zz.txt").exists()
    if rc == 3:
        nothing_published(pub)
        return
    assert rc == 1, (rc, err)
    entries = {e["path"]: e for e in report["entries"]}
    assert entries["d5/zz.txt"]["detail"].startswith("clamd: Vmguard.Test.Marker"), entries["d5/zz.txt"]
    assert [p for p, e in entries.items() if "scanner-failed" in e["reasons"]] == []


# ---------------------------------------------------------------- the file changed after it was scanned


class Flipper:
    """The guest flips a file's first bytes between the clamd marker and harmless bytes of the same
    length, as fast as it can: by write() with the mtime put back, or through a shared mapping
    (a write to a page already dirty updates neither mtime nor ctime)."""

    CLEAN = b"Y" * len(MARKER)

    def __init__(self, path: Path, how: str) -> None:
        self.path, self.how, self.stop = path, how, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        fd = os.open(self.path, os.O_RDWR)
        st = os.fstat(fd)
        mm = mmap.mmap(fd, 4096) if self.how == "mmap" else None
        while not self.stop.is_set():
            for data in (MARKER, self.CLEAN):
                if mm is not None:
                    mm[: len(data)] = data
                else:
                    os.pwrite(fd, data, 0)
                    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        if mm is not None:
            mm.close()
        os.close(fd)

    def __enter__(self) -> Flipper:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


@pytest.mark.parametrize(
    "how",
    [
        "write",
        "mmap",  # held since the scanners read the staged copy, not the source
    ],
)
def test_file_changed_after_scan_never_published_with_marker(tmp_path, clamd_server, how):
    """clamd reads the file through the descriptor itself, after vet copied and hashed it: whatever
    it saw, the published copy must not hold the marker, and must be what the manifest says."""
    policy = shipped_policy(tmp_path / "p", clamd_server.socket)
    leaks, outcomes = [], []
    for attempt in range(4 if how == "write" else 20):
        q, pub = tmp_path / f"q{attempt}", tmp_path / f"pub{attempt}"
        write(q / "flip.txt", Flipper.CLEAN + b"\n" + filler(4 << 20))
        pub.mkdir()
        with Flipper(q / "flip.txt", how):
            time.sleep(0.2)
            rc, report, err = vet(q, policy, pub / "out")
        published = pub / "out" / "flip.txt"
        outcomes.append(
            rc if report is None else (rc, report["entries"][0]["reasons"], report["entries"][0]["detail"])
        )
        if published.exists():
            manifest = json.loads((pub / "out.manifest.json").read_text())
            assert rc == 0, err
            assert f'"{hashlib.sha256(published.read_bytes()).hexdigest()}"' in json.dumps(manifest)
            if MARKER in published.read_bytes()[:64]:
                leaks.append(attempt)
    assert leaks == [], outcomes
