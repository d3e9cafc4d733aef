"""For each shipped YARA rule: files it must catch and near misses it must not.

Real keys where a tool makes them cheaply (ssh-keygen, openssl); the binary formats
(keytab, ccache, OpenPGP packets) are built field by field after their specifications.
"""

from __future__ import annotations

import base64
import functools
import struct
import subprocess
import tempfile
from pathlib import Path


def _run(*argv: str, cwd: str) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, timeout=60)


@functools.cache
def _ssh_keys() -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vmadmin@lab", "-f", "id", cwd=tmp)
        return Path(tmp, "id").read_bytes(), Path(tmp, "id.pub").read_bytes()


@functools.cache
def _x509() -> tuple[bytes, bytes, bytes]:
    """(private key, certificate, public key) from openssl."""
    with tempfile.TemporaryDirectory() as tmp:
        _run(
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/DC=org/DC=example/CN=alice/CN=proxy",
            cwd=tmp,
        )
        _run("openssl", "pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem", cwd=tmp)
        return tuple(Path(tmp, n).read_bytes() for n in ("key.pem", "cert.pem", "pub.pem"))


def _counted(data: bytes, width: str = "!H") -> bytes:
    return struct.pack(width, len(data)) + data


def keytab(version: int = 0x0502, realm: bytes = b"EXAMPLE.ORG") -> bytes:
    entry = (
        struct.pack("!H", 2)
        + _counted(realm)
        + _counted(b"host")
        + _counted(b"batch01.example.org")
        + struct.pack("!IIBH", 1, 1700000000, 3, 18)
        + _counted(bytes(range(32)))
    )
    return struct.pack("!H", version) + struct.pack("!i", len(entry)) + entry


def _principal(realm: bytes, *names: bytes) -> bytes:
    return (
        struct.pack("!ii", 1, len(names)) + _counted(realm, "!i") + b"".join(_counted(n, "!i") for n in names)
    )


def ccache(version: int = 0x0504) -> bytes:
    header = struct.pack("!HHQ", 1, 8, 0) if version == 0x0504 else b""
    head = struct.pack("!H", version) + (_counted(header) if version == 0x0504 else b"")
    client = _principal(b"EXAMPLE.ORG", b"alice")
    server = _principal(b"EXAMPLE.ORG", b"krbtgt", b"EXAMPLE.ORG")
    return head + client + client + server + struct.pack("!H", 18) + _counted(bytes(32), "!i") + bytes(40)


def pgp_secret_packet(new_format: bool = False) -> bytes:
    body = bytes([4]) + struct.pack("!I", 1700000000) + bytes([22]) + bytes(60)  # v4, EdDSA
    if new_format:
        return bytes([0xC5, len(body)]) + body
    return bytes([0x95]) + struct.pack("!H", len(body)) + body


def pgp_public_packet() -> bytes:
    body = bytes([4]) + struct.pack("!I", 1700000000) + bytes([22]) + bytes(40)
    return bytes([0x99]) + struct.pack("!H", len(body)) + body


JWT = (
    b"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInNjb3BlIjoic3RvcmFnZS5yZWFkOi8ifQ."
    b"c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJlLXNpZw"
)
AWS_ID, AWS_SECRET = b"AKIAJ2K3L4M5N6O7P2Q3", b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz1z2y3x4w"


def cases() -> dict[str, tuple[list[bytes], list[bytes]]]:
    """rule -> (files it must catch, near misses it must not)."""
    ssh_key, ssh_pub = _ssh_keys()
    key, cert, pub = _x509()
    return {
        "ssh_private_key": (
            [
                ssh_key,
                b"log line\n" + ssh_key,
                b"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: x\nPublic-Lines: 2\n",
                b"id_ed25519: " + base64.b64encode(ssh_key) + b"\n",
            ],
            [ssh_pub, b"see ~/.ssh/id_ed25519 (BEGIN OPENSSH KEY)\n", base64.b64encode(ssh_pub)],
        ),
        "pem_private_key": (
            [
                key,
                b"-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----\n",
                b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE==\n",
                b'{"tls.key": "' + base64.b64encode(b"\n" + key) + b'"}\n',
            ],
            [pub, cert, b"-----BEGIN PRIVATE NOTES-----\n", base64.b64encode(cert + pub)],
        ),
        "pgp_private_key": (
            [
                b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlFgEZ...\n",
                pgp_secret_packet(),
                base64.b64encode(b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlFgEZ...\n"),
                pgp_secret_packet(new_format=True),
                b"(21:protected-private-key(3:ecc(5:curve7:Ed25519)",
                b"Created: 20240101T000000\nKey: (private-key (ecc (curve Ed25519)))\n",
            ],
            [
                b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n",
                pgp_public_packet(),
                b"-----BEGIN PGP SIGNATURE-----\n",
                bytes([0x95, 0, 3, 9, 9, 9]),
                base64.b64encode(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"),
            ],
        ),
        "kerberos_keytab": (
            [keytab(), keytab(0x0501), keytab(realm=b"CERN.CH")],
            [
                b"\x05\x02" + b"garbage that is not a keytab at all",
                keytab()[:12],
                b"\x05\x02\x00\x00\x00\x20\x00\x01\x00\x03\x00\x01\x02" + bytes(32),
            ],
        ),
        "kerberos_ccache": (
            [ccache(), ccache(0x0503)],
            [b"\x05\x04" + b"some text that follows by chance" * 2, ccache()[:14], b"\x05\x03" + bytes(30)],
        ),
        "shadow_password_hash": (
            [
                b"root:$6$Xy9.ab/c$K8sKf3nQ0Gx0q8bH0Pq2pW1vQ3lq8wzXnP9pU6wB5m1j0Yc2f3Q9t8r7s6u5v4w3x2y1z0A"
                b"BCDEFGHIJK.:19700:0:99999:7:::\n",
                b"bin:*:19700:0:99999:7:::\nalice:$y$j9T$abcdefghij$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef:"
                b"19701:0:99999:7:::\n",
                b"svc:$1$saltsalt$qjQh9e1I8lKdVfQ3tX0vP/:15000::::::\n",
            ],
            [
                b"root:x:0:0:root:/root:/bin/bash\n",
                b"daemon:*:19700:0:99999:7:::\nalice:!:19700::::::\n",
                b"the hash format is $6$salt$hash, see crypt(5)\n",
            ],
        ),
        "x509_proxy": (
            [cert + key + cert, cert + b"-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n"],
            [cert, cert + pub],
        ),
        "aws_credentials": (
            [
                b"[default]\naws_access_key_id = "
                + AWS_ID
                + b"\naws_secret_access_key = "
                + AWS_SECRET
                + b"\n",
                b'{"AccessKeyId": "ASIAJ2K3L4M5N6O7P2Q3", "SecretAccessKey": "' + AWS_SECRET + b'"}',
            ],
            [b"aws_access_key_id = " + AWS_ID + b"\n", b"aws_secret_access_key = <your secret here>\n"],
        ),
        "gcp_service_account_key": (
            [
                b'{\n  "type": "service_account",\n  "project_id": "lab",\n  "private_key": '
                b'"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n"\n}\n'
            ],
            [
                b'{"type": "service_account", "client_email": "job@lab.iam.gserviceaccount.com"}\n',
                b'{"type": "authorized_user", "private_key": "none"}\n',
            ],
        ),
        "azure_storage_key": (
            [b"DefaultEndpointsProtocol=https;AccountName=lab;AccountKey=" + b"A1b2" * 21 + b"xy==;"],
            [
                b"DefaultEndpointsProtocol=https;AccountName=lab;AccountKey=<key>;\n",
                b"AccountKey=" + b"A1b2" * 10 + b"==\n",
            ],
        ),
        "bearer_token": (
            [b"Authorization: Bearer " + JWT + b"\n", JWT],
            [b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.\n", b"header eyJhbGciOiJSUzI1NiJ9 only\n"],
        ),
        "netrc_password": (
            [
                b"machine cvs.example.org login alice password s3cret\n",
                b"default\nmachine db.lab\n  login bob\n  password hunter2\n",
            ],
            [b"machine cvs.example.org login alice\n", b"the machine needs a password to log in\n"],
        ),
        "htpasswd_hash": (
            [b"alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n", b"bob:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n"],
            [b"alice:x\n", b"time:12:30:45\n", b"bob:$apr1$short\n"],
        ),
        "ssh_private_key_body": (
            [
                b"".join(ssh_key.strip().split(b"\n")[1:-1]) + b"\n",
                b"key " + b"".join(ssh_key.split(b"\n")[1:3]),
            ],
            [ssh_pub, b"b3BlbnNzaC1yc2EtdjE is not a key\n", b"openssh-key-v1 is the format's magic\n"],
        ),
        "kerberos_keytab_embedded": (
            [
                bytes(2880) + keytab(),
                b"\x89HDF\r\n\x1a\n" + bytes(2040) + keytab(realm=b"CERN.CH") + bytes(8),
            ],
            [
                bytes(2880) + keytab(realm=b"example.org"),  # lower case: not a realm as MIT writes it
                bytes(100) + b"\x05\x02\x00\x00\x00\x08\x00\x01\x00\x03ABC" + bytes(40),  # realm beyond entry
                bytes(2880) + keytab(0x0501),  # v1 only at offset 0 (kerberos_keytab)
            ],
        ),
        "kerberos_ccache_embedded": (
            [
                bytes(2880) + ccache(),
                b"x" * 7 + b"\x05\x04\x00\x00" + _principal(b"LAB.ORG", b"bob") + bytes(20),
            ],
            [
                bytes(2880) + b"\x05\x04\x00\x00" + _principal(b"lab.org", b"bob"),
                bytes(64) + b"\x05\x04\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01A" + bytes(20),
            ],
        ),
        "shadow_des_hash": (
            [
                b"erin:abJnggxhB/yWI:19700:0:99999:7:::\n",
                b"bin:*:19700:0:99999:7:::\nold:Xy1.zZ/ab2cdE:15000::::::\n",
            ],
            [
                b"erin:x:1000:1000:Erin:/home/erin:/bin/bash\n",
                b"erin:!:19700:0:99999:7:::\n",
                b"run:abJnggxhB/yWI:42 events\n",
            ],
        ),
        "aws_secret_access_key": (
            [b"aws_secret_access_key=" + AWS_SECRET + b"\n", b'"SecretAccessKey": "' + AWS_SECRET + b'"\n'],
            [
                b"aws_secret_access_key = <your secret here>\n",
                b"aws_secret_access_key=${AWS_SECRET}\n",
                b"aws_secret_access_key=" + AWS_SECRET + b"abc\n",  # 43 characters: not a key
            ],
        ),
        "gcp_api_key": (
            [b"key=AIzaSyD4-fakeKeyFor9TestsOnly_abcdefghij\n", b'{"apiKey": "AIza' + b"x1" * 17 + b'y"}'],
            [
                b"AIzaSy is how Google API keys start\n",
                b"key=AIza" + b"x" * 20 + b"\n",
                b"AIzaSy-" + b"x" * 27 + b" (34)\n",
            ],
        ),
        "gcp_authorized_user": (
            [
                b'{"client_id": "1.apps.googleusercontent.com", "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",'
                b' "refresh_token": "1//0gdTRjNkK3Yw-CgYIARAAGBASNwF", "type": "authorized_user"}\n'
            ],
            [
                b'{"client_id": "1.apps.googleusercontent.com", "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty"}\n',
                b'{"refresh_token": "", "client_secret": ""}\n',
            ],
        ),
        "azure_service_principal": (
            [
                b'{"appId": "00000000-1111-2222-3333-444444444444", "displayName": "lab",'
                b' "password": "Qx8Q~abcdefghijklmnop", "tenant": "55555555-6666-7777-8888-999999999999"}\n'
            ],
            [
                b'{"appId": "00000000-1111-2222-3333-444444444444", "displayName": "lab",'
                b' "tenant": "55555555-6666-7777-8888-999999999999"}\n',
                b'{"appId": "lab", "password": "", "tenant": "x"}\n',
            ],
        ),
        "azure_sas_url": (
            [
                b"https://lab.blob.core.windows.net/c?sv=2021-06-08&ss=b&srt=sco&sp=r&se=2027-01-01"
                b"&sig=3kS%2Bq1lW0X2bE8Yh5v4QmJrN6tP7uA9cD0eF1gH2iJ3%3D\n"
            ],
            [
                b"https://lab.blob.core.windows.net/c?sv=2021-06-08&ss=b&srt=sco&sp=r&se=2027-01-01&sig=REDACTED\n",
                b"https://lab.blob.core.windows.net/c/data.h5\n",
            ],
        ),
        "http_bearer_token": (
            [
                b"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl\n",
                b"curl -H 'Authorization: Bearer ya29.a0AfB_byC1d2E3f4G5h6I7j8K9l0M1n2O3p4Q5'\n",
            ],
            [
                b"Authorization: Bearer $TOKEN\n",
                b"Authorization: Bearer <token>\n",
                b"WWW-Authenticate: Bearer realm=lab\n",
            ],
        ),
        "pgpass_line": (
            [b"db.lab.example:5432:calib:alice:s3cr3t-Pw\n", b"# pgpass\n*:*:*:reco:hunter2\n"],
            [b"time 12:30:45\n", b"a:b:c:d:e:f:g\n", b"12:30:45:00:01\n", b"db.lab.example:5432:calib\n"],
        ),
        "git_credentials": (
            [
                b"https://alice:ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8@github.com\n",
                b"url = http://reco:s3cr3t-Pw@gitlab.lab.example/x.git\n",
            ],
            [
                b"https://alice@github.com/lab/x.git\n",
                b"https://github.com:443/lab/x.git\n",
                b"ssh://git@host:22/x\n",
            ],
        ),
        "mysql_option_file_password": (
            [
                b"[client]\nuser=reco\npassword=calib-db-secret\nhost=192.0.2.10\n",
                b"# job config\n[mysql]\npassword = x\n",
            ],
            [
                b"[client]\nuser=reco\nhost=192.0.2.10\n",
                b"[mysqld]\ndatadir=/var/lib/mysql\n",
                b"password=only-without-a-section\n",
            ],
        ),
    }
