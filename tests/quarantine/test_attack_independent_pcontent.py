"""Independent attack p on `vmguard vet`'s content claims (issue #13, session 39): the
fits, json and tar rows of docs/quarantine.md and their "exactness leaves" sections as
attack o's fixes left them (FITS keywords a reader acts on held to one spelling, JSON
integers past a double refused and lone surrogate keys compared as U+FFFD, one tar format
an archive, base-256 numbers where octal cannot hold them), attacked as claims (neither
the validators nor their tests were read).

HOLES (strict xfails):
- The tile-compression keywords ZDITHER0 and ZQUANTIZ, which both readers act on to turn
  a quantized image's integers back into floats, are neither read by a rule nor in the
  "acted on" list: `ZDITHER0=7` and `ZQUANTIZ='NO_DITHER'` (no blank after '=') in
  fitsio's own RICE image: astropy cannot read the image (TypeError / KeyError), cfitsio
  (fitsio) returns other floats than the file's (another dither seed, no dither). The
  fits row refuses `BSCALE  =2.0` for the same reason (one reader acts, the other not).
- a second ZDITHER0 card (7 after fitsio's own): both decompress with the first card
  and astropy's header shows it (its `_bintable.header['ZDITHER0']`); fitsio's
  read_header shows the second, 7, which no decompressor uses: the row's "appears once
  in its header ... readers disagree which of two cards counts", for a keyword it does
  not list.
- `ZDITHER0= 7.5` (cfitsio truncates to 7, astropy raises "should be an integer");
  `ZQUANTIZ= 'NO_DITHER&'` then `CONTINUE  ''` (astropy: NO_DITHER, other floats;
  cfitsio cannot open the HDU): the CONTINUE reading the row refuses for TDIMn and EXTNAME.
- ZSCALE, ZZERO, ZBLANK as header keywords (standard spelling, cards added) in fitsio's
  RICE int16 image: cfitsio scales every pixel (`ZSCALE = 2.0`, `ZZERO = 100.0`: 100 102
  104 ... where astropy returns 0 1 2 ...); astropy blanks (`ZBLANK = 5`: NaN where cfitsio
  returns 5; as astropy and fitsio part on BLANK itself, which astropy writes: weaker):
  the two-images case the row refuses for BSCALE/BZERO/BLANK.
- TZEROn, TSCALn (listed keywords, in the held spelling) on a column the standard gives
  no scaling, added to astropy's table: `TZERO1 = 10` on a 3A column (fitsio 'ab1',
  astropy 'ab'), `TZERO2 = 10` on an 8X column (fitsio every bit set), `TZERO3 = 1` or
  `TSCAL3 = 2.0` on an L column (fitsio [False, False], astropy [True, False]).
- `HIERARCH ZDITHER0 = 7`, `HIERARCH ZQUANTIZ = 'NO_DITHER'`: both readers act on the
  HIERARCH card (alike); "what exactness leaves" frees the HIERARCH spelling only for
  keywords "no rule reads nor a reader acts on": a spelling no writer writes.
- tar: tarfile's pax archive of two members dated x.7: the first member's header mtime is
  rounded (tarfile), the second's truncated (GNU tar): every reader (tarfile, GNU tar,
  bsdtar) shows x.7 for both; and tarfile's pax member then GNU tar's (its
  `./PaxHeaders/b.csv` header, mode 0644, atime and ctime records; its device fields made
  tarfile's empty ones): "a writer writes one format an archive" is held for the magic
  and device fields, not for the extended headers and the fields derived behind them
  (a bit a member each).
- tar: a ustar path `a*40/b*40/c*40/d.csv` (127 bytes) split between prefix and name at
  its middle slash: tarfile writes the shortest prefix that fits (40 bytes), GNU tar the
  longest (122); every reader joins prefix/name to the same path, the split is a choice
  among a path's slashes no writer makes ("every header block pinned to what tarfile and
  GNU tar write").
FALSE_REJECTIONS: none of the tar, FITS or JSON controls below (bsdtar's aside).
DOCUMENTED_REFUSALS: bsdtar's (libarchive 3.6, macOS's tar) ustar and pax headers spell a
number with a space (`000644 \\0`, `00000000010 `): the tar row pins "octal digits of the
written width and a NUL" ("tar: the mode of 'ad.csv' is not written as tar writes it");
its gnutar format passes. (Tried, not kept: pandas' `%.10g` of a subnormal,
`9.999888672e-321`, refused as the json row documents.)
LISTED (the json row: "at most 1000 levels deep"): arrays nested 999 deep (json.loads
raises RecursionError) and 300 deep (jq 1.6: "Exceeds depth limit for parsing" at 257)
are published: a .json that Python's json and jq cannot open.

Not hits (refused, kept as hostile cases that must stay refused): base-256 where octal
holds the number (uid 1000, mtime 1733443200), a negative uid (tarfile's own -2, which GNU
tar refuses as out of uid_t range), a base-256 size of -1; JSON: the integer
2**1024 - 2**970 (halfway: JSON.parse Infinity, json.loads the integer) and its negative
("an integer out of a double"), `{"\\ufffd\\ufffd": .., "\\udc00\\udc00": ..}` (one key to
jq 1.6: "the key ... twice"). Tried, not kept: `2**1024 - 2**970 - 1` (the largest double
to every reader) passes, `1.7976931348623158e+308` is refused (not the shortest digits),
as they should; jq 1.6 cannot parse a lone high surrogate anywhere (writer
output of json.dumps: a reader's limit). Also tried and published, not
kept (writer output: json.dumps writes them): `{"name":..,"NAME":..}` and `"key"` beside
`"\\u212aey"` (KELVIN SIGN), one key to Go's case-folding struct decoding (no Go here).

Controls (real tool output): astropy's scaled int16 image (BSCALE/BZERO), BLANK, a named
image with EXTVER, EXTLEVEL and INHERIT, a table with TZERO (uint16), TNULL and TDIM,
RICE_1 and GZIP_2 compressed images; fitsio's quantized images (SUBTRACTIVE_DITHER_1,
_2, NO_DITHER) and a uint16 image with EXTNAME/EXTVER; JSON from json (2**64 + 1,
-2**70, -0.0, the largest and smallest doubles), orjson and pandas (split, records);
tarfile (GNU, pax) and GNU tar (gnu, oldgnu, pax, posix) archives of an AD uid member and
a 1969 member, bsdtar's gnutar format; tarfile's and GNU tar's (ustar, posix) 127-byte
prefix/name paths. One quarantine, vetted once through the CLI with
the shipped allow_types plus tar and zip, scanners off.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import warnings

import numpy as np
import pytest

from tests.quarantine.test_attack_independent_dcontent import _policy
from tests.quarantine.test_attack_independent_econtent import _vet
from tests.support import attack_pcontent_files as made
from tests.support import attack_pcontent_forge as forged

HOLES: dict[str, str] = {}

FALSE_REJECTIONS: dict[str, str] = {}

# Fixed (session 39, tarwriter): the writer is one an archive, pinned by the first member
# that shows it; a split no writer makes is refused.
WRITER_REFUSED = {
    "tar-p-pax-writers-mixed.tar": "tarfile and GNU tar write one way an archive",
    "tar-p-mtime-rounding-mixed.tar": "tarfile and GNU tar write one way an archive",
    "tar-p-prefix-split-middle.tar": "split into prefix and name at byte 81 is written neither as tarfile nor",
}

# "numbers as octal digits of the written width and a NUL": bsdtar ends them with a space
DOCUMENTED_REFUSALS = {
    "ctl-p-bsdtar-pax-ad.tar": "is not written as tar writes it",
    "ctl-p-bsdtar-default.tar": "is not written as tar writes it",
}

# "at most 1000 levels deep": deeper than json.loads and jq 1.6 read
LISTED = sorted(forged.json_deep())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-pcontent")
    work = base / "made"
    controls = (made.astropy_controls() | made.fitsio_controls(work / "fitsio") | made.json_controls()
                | made.tar_controls(work / "tar"))  # fmt: skip
    documented = {n: controls.pop(n) for n in list(controls) if n in DOCUMENTED_REFUSALS}
    plain = {"float": forged.quantized(work / "plain.fits"), "int": forged.compressed_int(work / "int.fits")}
    plain["table"] = forged.astropy_table()
    hostile = forged.fits_hostile(plain) | forged.table_hostile(plain["table"]) | forged.tar_hostile()
    hostile |= forged.json_refused()
    mixed = forged.tar_pax_writers_mixed(work / "gnu")
    if mixed is not None:
        hostile["tar-p-pax-writers-mixed.tar"] = mixed
    files = controls | hostile | documented | forged.json_deep()
    vetted = _vet(base, "content", files, _policy(("tar", "zip")))
    return {**vetted, "files": files, "controls": controls, "hostile": hostile, "documented": documented,
            "plain": plain}  # fmt: skip


def _case(name: str, table: dict[str, str]):
    if name in table:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=table[name]))
    return name


_OURS = [
    "ctl-p-astropy-scaled.fits",
    "ctl-p-astropy-uint64.fits",
    "ctl-p-astropy-blank-named.fits",
    "ctl-p-astropy-scaled-table.fits",
    "ctl-p-astropy-rice_1.fits",
    "ctl-p-astropy-gzip_2.fits",
    "ctl-p-json-numbers.json",
    "ctl-p-json-numbers-indent.json",
    "ctl-p-orjson-numbers.json",
    "ctl-p-pandas-split.json",
    "ctl-p-pandas-records.json",
    "ctl-p-tarfile-gnu-ad-old.tar",
    "ctl-p-tarfile-pax-ad-old.tar",
    "ctl-p-tarfile-ustar-long.tar",
]
_TOOLS = ["ctl-p-fitsio-dither1.fits", "ctl-p-fitsio-dither2.fits", "ctl-p-fitsio-nodither.fits",
          "ctl-p-fitsio-uint16.fits", "ctl-p-gnutar-gnu-ad-old.tar", "ctl-p-gnutar-oldgnu-ad-old.tar",
          "ctl-p-gnutar-pax-ad-old.tar", "ctl-p-gnutar-posix-ad-old.tar", "ctl-p-bsdtar-gnutar-ad.tar",
          "ctl-p-gnutar-ustar-long.tar", "ctl-p-gnutar-posix-long.tar"]  # fmt: skip
_CONTROLS = sorted(_OURS + _TOOLS)
_HOSTILE = sorted(
    set(forged.CARDS)
    | set(forged.TABLE_CARDS)
    | set(forged.tar_hostile())
    | set(forged.json_refused())
    | {"tar-p-pax-writers-mixed.tar"}
)


def test_every_exemption_names_a_real_case(run):
    assert set(run["controls"]) <= set(_CONTROLS)
    assert set(_CONTROLS) - set(run["controls"]) <= set(_TOOLS)  # fitsio, GNU tar or bsdtar missing
    assert set(_HOSTILE) - set(run["hostile"]) <= {"tar-p-pax-writers-mixed.tar"}  # no GNU tar
    assert set(HOLES) <= set(_HOSTILE)
    assert set(FALSE_REJECTIONS) <= set(_CONTROLS)


@pytest.mark.parametrize("name", [_case(n, FALSE_REJECTIONS) for n in _CONTROLS])
def test_real_output_is_published_byte_identical(run, name):
    if name not in run["controls"]:
        pytest.skip("the tool is not on this host")
    entry = run["entries"][name]
    assert entry["verdict"] == "accepted", entry
    published = (run["out"] / name).read_bytes()
    assert published == run["files"][name]
    assert entry["sha256"] == hashlib.sha256(published).hexdigest()


@pytest.mark.parametrize("name", sorted(DOCUMENTED_REFUSALS))
def test_documented_refusal(run, name):
    if name not in run["documented"]:
        pytest.skip("no bsdtar on this host")
    entry = run["entries"][name]
    assert entry["verdict"] == "rejected", entry
    assert DOCUMENTED_REFUSALS[name] in entry["detail"], entry["detail"]
    data = run["documented"][name]
    assert data[100:108] == b"000644 \0"  # bsdtar's spelling: six digits, space, NUL
    with tarfile.open(fileobj=io.BytesIO(data)) as t:  # real: it reads
        assert t.extractfile("ad.csv").read() == made.ROWS


@pytest.mark.parametrize("name", [_case(n, HOLES) for n in _HOSTILE])
def test_hostile_file_is_not_published(run, name):
    if name not in run["hostile"]:
        pytest.skip("no GNU tar on this host")
    entry = run["entries"][name]
    assert entry["verdict"] != "accepted", entry
    assert not (run["out"] / name).exists()


@pytest.mark.parametrize("name", sorted(WRITER_REFUSED))
def test_tar_writer_mixed_refused_naming_the_rule(run, name):
    if name not in run["hostile"]:
        pytest.skip("no GNU tar on this host")
    entry = run["entries"][name]
    assert entry["verdict"] == "rejected" and WRITER_REFUSED[name] in entry["detail"], entry


@pytest.mark.parametrize("name", LISTED)
def test_listed_deep_json_published(run, name):
    assert run["entries"][name]["verdict"] == "accepted", run["entries"][name]


def _astropy(data: bytes):
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(io.BytesIO(data)) as f:
            return np.array(f[1].data)


def _fitsio(data: bytes, path):
    fitsio = pytest.importorskip("fitsio")
    path.write_bytes(data)
    return fitsio.read(str(path), ext=1)


# how each reader reads each file: "fails", "plain" (the writer's values) or "other"
READS = {
    "fits-p-zdither0-noblank.fits": ("fails", "other"),
    "fits-p-zdither0-float.fits": ("fails", "other"),
    "fits-p-zquantiz-noblank.fits": ("fails", "other"),
    "fits-p-zquantiz-continued.fits": ("other", "fails"),
    "fits-p-zscale-zzero.fits": ("plain", "other"),
    "fits-p-zblank.fits": ("other", "plain"),
    "fits-p-zdither0-hierarch.fits": ("other", "other"),
    "fits-p-zquantiz-hierarch.fits": ("other", "other"),
    "fits-p-zdither0-twice.fits": ("plain", "plain"),
}


def _read(reader, data: bytes, plain) -> str:
    try:
        values = reader(data)
    except (TypeError, KeyError, OSError):
        return "fails"
    return "plain" if np.array_equal(values, plain, equal_nan=False) else "other"


@pytest.mark.parametrize("name", sorted(forged.CARDS))
def test_fits_compression_cards_read_apart(run, name, tmp_path):
    """The attack is real: fitsio's own compressed image but one card respelled in place
    or cards added (same size); (astropy, cfitsio) read it as READS says: one fails or
    keeps the writer's values where the other acts on the card."""
    kind = forged.CARDS[name][0]
    plain, data = run["plain"][kind], run["hostile"][name]
    assert len(data) == len(plain) and data != plain
    pytest.importorskip("fitsio")
    own = _fitsio(plain, tmp_path / "plain.fits")
    assert np.array_equal(_astropy(plain), own)
    reads = (_read(_astropy, data, own), _read(lambda d: _fitsio(d, tmp_path / name), data, own))
    assert reads == READS[name]
    if reads == ("other", "other"):
        assert np.array_equal(_astropy(data), _fitsio(data, tmp_path / name))  # both act alike


# what fitsio returns for the string, bit and logical columns (astropy: the plain values)
TABLE_READS = {
    "fits-p-tzero-string.fits": ("s", ["ab1", "cde"]),
    "fits-p-tzero-bits.fits": ("x", [[True] * 8, [True] * 8]),
    "fits-p-tzero-logical.fits": ("b", [False, False]),
    "fits-p-tscal-logical.fits": ("b", [False, False]),
}


@pytest.mark.parametrize("name", sorted(forged.TABLE_CARDS))
def test_fits_table_scaling_read_apart(run, name, tmp_path):
    """The attack is real: astropy's table plus one card; astropy returns the written
    values (['ab', 'cde'], bits 10100000 and 0, [True, False]), fitsio others."""
    plain, data = run["plain"]["table"], run["hostile"][name]
    assert len(data) == len(plain)
    column, shown = TABLE_READS[name]
    assert _astropy(data)[column].tolist() == _astropy(plain)[column].tolist()
    pytest.importorskip("fitsio")
    assert (
        _fitsio(data, tmp_path / name)[column].tolist()
        == shown
        != _fitsio(plain, tmp_path / "p.fits")[column].tolist()
    )


def test_fits_zscale_and_zblank_values(run, tmp_path):
    """cfitsio returns 2 x + 100 under ZSCALE/ZZERO; astropy returns NaN for the pixels
    equal to ZBLANK (5), cfitsio 5."""
    pytest.importorskip("fitsio")
    scaled = _fitsio(run["hostile"]["fits-p-zscale-zzero.fits"], tmp_path / "s.fits")
    assert list(scaled.ravel()[:3]) == [100, 102, 104]
    blanked = _astropy(run["hostile"]["fits-p-zblank.fits"])
    assert (
        np.isnan(blanked.ravel()[5])
        and _fitsio(run["hostile"]["fits-p-zblank.fits"], tmp_path / "b.fits").ravel()[5] == 5
    )


def test_fits_second_dither_card_shown_apart(run, tmp_path):
    """astropy's compressed header shows fitsio's own ZDITHER0 (the one both decompress
    with), fitsio's read_header the added one."""
    from astropy.io import fits

    data = run["hostile"]["fits-p-zdither0-twice.fits"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(io.BytesIO(data)) as f:
            first = f[1]._bintable.header["ZDITHER0"]
    fitsio = pytest.importorskip("fitsio")
    (tmp_path / "t.fits").write_bytes(data)
    with fitsio.FITS(str(tmp_path / "t.fits")) as f:
        assert f[1].read_header()["ZDITHER0"] == 7 != first


def test_tar_pax_writers_mixed_reads_alike(run, tmp_path):
    """The attack is real: tarfile, GNU tar and bsdtar list both members as written (x.7);
    the first's extended header is tarfile's (`././@PaxHeader`, mode 0), the second's GNU
    tar's (`./PaxHeaders/b.csv`, mode 0644)."""
    data = run["hostile"].get("tar-p-pax-writers-mixed.tar")
    if data is None:
        pytest.skip("no GNU tar on this host")
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert [(m.name, m.mtime, t.extractfile(m).read()) for m in t] == [
            ("a.csv", 1733443200.7, forged.SHOWN),
            ("b.csv", 1733443200.7, forged.SHOWN),
        ]
    assert data[:14] == b"././@PaxHeader" and data[100:108] == b"0000000\0"
    assert data[2048 : 2048 + 18] == b"./PaxHeaders/b.csv" and data[2148:2156] == b"0000644\0"
    (tmp_path / "m.tar").write_bytes(data)
    out = subprocess.run(["tar", "-tf", str(tmp_path / "m.tar")], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["a.csv", "b.csv"]


def test_tar_prefix_split_reads_alike(tmp_path):
    """The attack is real: tarfile and GNU tar read the path as written; tarfile's own
    split is at 40, GNU tar's at 122 (the controls), the forged one at 81."""
    data = forged.tar_prefix_split()
    assert len(data[345:500].rstrip(b"\0")) == 81
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert t.getnames() == [forged.LONG] and t.extractfile(forged.LONG).read() == forged.SHOWN
    if shutil.which("tar"):
        (tmp_path / "s.tar").write_bytes(data)
        out = subprocess.run(
            ["tar", "-tf", str(tmp_path / "s.tar")], capture_output=True, text=True, check=True
        )
        assert out.stdout.split() == [forged.LONG]


def test_tar_long_path_controls_split_apart(run):
    for name, prefix in (("ctl-p-tarfile-ustar-long.tar", 40), ("ctl-p-gnutar-ustar-long.tar", 122)):
        if name in run["files"]:
            assert len(run["files"][name][345:500].rstrip(b"\0")) == prefix


def test_tar_mtime_rounding_mixed_reads_alike(tmp_path):
    """The attack is real: both members read x.7 to tarfile and GNU tar; their header
    mtimes differ by the writer each was given."""
    data = forged.tar_mtime_rounding_mixed()
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert [m.mtime for m in t] == [1733443200.7, 1733443200.7]
    heads = [
        i for i in range(0, len(data), 512) if data[i + 257 : i + 262] == b"ustar" and data[i + 156] == 48
    ]
    assert [int(data[i + 136 : i + 147], 8) for i in heads] == [1733443201, 1733443200]
    if shutil.which("tar"):
        (tmp_path / "m.tar").write_bytes(data)
        out = subprocess.run(["tar", "--full-time", "-tvf", str(tmp_path / "m.tar")], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
        assert out.count("00:00:00.7") == 2


def test_json_halfway_is_infinity_to_javascript(tmp_path):
    """The refused integer is hostile: json.loads returns it whole, JSON.parse Infinity."""
    assert json.loads(forged.json_refused()["json-p-int-halfway.json"]) == [forged.HALFWAY]
    if shutil.which("node"):
        (tmp_path / "h.json").write_bytes(forged.json_refused()["json-p-int-halfway.json"])
        script = "console.log(JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'))[0])"
        out = subprocess.run(["node", "-e", script, str(tmp_path / "h.json")], capture_output=True, text=True,
                             check=True)  # fmt: skip
        assert out.stdout.strip() == "Infinity"


def test_deep_json_unreadable(tmp_path):
    """json.loads cannot read the 999-deep file; jq 1.6 neither the 300-deep one."""
    with pytest.raises(RecursionError):
        json.loads(forged.nested(999))
    assert json.loads(forged.nested(300))
    if shutil.which("jq"):
        proc = subprocess.run(["jq", "-c", "."], input=forged.nested(300), capture_output=True, check=False)
        version = subprocess.run(["jq", "--version"], capture_output=True, text=True, check=False).stdout
        if version.startswith("jq-1.6"):
            assert proc.returncode != 0 and b"depth" in proc.stderr


def test_ad_uid_and_1969_controls_are_base_256(run):
    """The controls are what the writers write: base-256 uid (0x80) and 1969 mtime (0xff)."""
    for name in ("ctl-p-gnutar-gnu-ad-old.tar", "ctl-p-tarfile-gnu-ad-old.tar"):
        if name in run["files"]:
            data = run["files"][name]
            assert data[108] == 0x80
            with tarfile.open(fileobj=io.BytesIO(data)) as t:
                members = {m.name: m for m in t}
            assert members["ad.csv"].uid == made.AD_UID and members["old.csv"].mtime == made.OLD


def test_whole_run_exit_code(run):
    """Per-file mode: refusals give exit 1; the rest is still published."""
    assert run["rc"] == 1
