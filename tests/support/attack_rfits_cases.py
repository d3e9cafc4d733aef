"""Files for independent attack r fits (session 40's card rules): hostile headers built card by
card, each a primary image astropy opens, and the controls astropy writes itself."""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits


def card(text: str) -> bytes:
    """One 80-byte card: the attack writes every byte of it."""
    assert len(text) <= 80, text
    return text.ljust(80).encode("ascii")


def kv(key: str, value: str, comment: str = "") -> str:
    """A fixed-format card: keyword in 1-8, `= ` in 9-10, the value right-justified to 30."""
    text = f"{key:<8}= {value:>20}"
    return f"{text} / {comment}" if comment else text


def sv(key: str, value: str) -> str:
    """A fixed-format string card."""
    return f"{key:<8}= '{value:<8}'"


def primary(cards: list[str], pixels: int = 4) -> bytes:
    """A primary HDU of `pixels` 8-bit pixels: the structural cards as astropy writes them,
    then the attack's cards, END, blank padding and zero-filled data."""
    head = [kv("SIMPLE", "T"), kv("BITPIX", "8"), kv("NAXIS", "1"), kv("NAXIS1", str(pixels))]
    raw = b"".join(card(c) for c in head + cards) + card("END")
    raw += b" " * (-len(raw) % 2880)
    data = bytes(range(1, pixels + 1))
    return raw + data + b"\0" * (-len(data) % 2880)


WCS_BASE = [kv("WCSAXES", "1"), sv("CTYPE1", "LINEAR"), kv("CRPIX1", "1.0")]
LISTED_TYPES = ("type-str.fits", "type-logical.fits", "type-str-num.fits", "type-none.fits",
                "type-complex.fits")
# the keyword astropy shows, as astropy writes it, then wcslib's other spelling of it
SYNONYMS = {
    "syn-pc.fits": ("PC1_1", "PC001001"),  # AIPS's PCiiijjj
    "syn-cd.fits": ("CD1_1", "CD001001"),
    "syn-pc01.fits": ("PC1_1", "PC01_01"),  # leading zeros in the indices
    "syn-pc1_01.fits": ("PC1_1", "PC1_01"),
    "syn-pv01.fits": ("PV2_1", "PV2_01"),
    "syn-projp.fits": ("PV2_1", "PROJP1"),  # the old PROJPn
    "syn-lonpole.fits": ("LONPOLE", "PV1_3"),  # Paper II's alias
    "syn-restfrq.fits": ("RESTFRQ", "RESTFREQ"),  # the old spelling
    "syn-radesys.fits": ("RADESYS", "RADECSYS"),
}
# the values: honest first card, hostile second card
_SYN_VALUES = {"LONPOLE": ("180.0", "90.0"), "RESTFRQ": ("1.0E9", "2.0E9"),
               "RADESYS": ("'FK5     '", "'FK4     '")}


def hostile() -> dict[str, bytes]:
    """Each case differs from astropy's output by the cards named in its key."""
    hier = "HIERARCH ESO DET CHIP GAIN"
    return {
        # two spellings of one HIERARCH name: spacing and case
        "hier-case.fits": primary([f"{hier} = 1.0", "HIERARCH eso det chip gain = 9.0"]),
        "hier-lead.fits": primary([f"{hier} = 1.0", "HIERARCH  ESO DET CHIP GAIN = 9.0"]),
        "hier-eq.fits": primary([f"{hier} = 1.0", "HIERARCH ESO DET CHIP GAIN= 9.0"]),
        # record-valued DP cards: one field twice, spelled apart
        "dp-space.fits": primary(dp_cards("'AXIS.1: 1'", "'AXIS.1:  2'")),
        "dp-case.fits": primary(dp_cards("'AXIS.1: 1'", "'axis.1: 2'")),
        "dp-value.fits": primary(dp_cards("'OFFSET.1: 1.0'", "'OFFSET.1: 1.0E0'")),
        # a distortion's DQ field astropy and wcslib file apart: wcslib takes the last
        **{f"dq-{k}.fits": primary(tpd_cards(v), 16) for k, v in DQ_SECOND.items()},
        # wcslib's other spelling of a keyword after the card astropy shows
        **{name: synonym(name, True) for name in SYNONYMS},
        # astropy takes any 'FIELD.n: number' string as a record-valued card: a second card of
        # a keyword each reader files under the keyword or a field
        "rv-bunit.fits": primary([sv("BUNIT", "Jy: 1"), sv("BUNIT", "adu: 2")]),
        "rv-object.fits": primary([sv("OBJECT", "M.31: 1"), sv("OBJECT", "M.32: 2")]),
        "rv-ctype.fits": primary([kv("WCSAXES", "1"), sv("CTYPE1", "X.1: 1"), sv("CTYPE1", "FREQ")]),
        "rv-crval.fits": primary([*WCS_BASE, kv("CRVAL1", "10.0"), sv("CRVAL1", "A.1: 2")]),
        "dp-plain-twice.fits": primary([*WCS_BASE, sv("DP1", "junk"), sv("DP1", "junk2")]),
        # compressed images whose column names differ in case or blanks
        "comp-zscale-lower.fits": renamed("ctl/comp-int-GZIP_1.fits", b"'COMPRESSED_DATA'",
                                          b"'compressed_data'"),
        "comp-zzero-lead.fits": renamed("ctl/comp-q-GZIP_1.fits", b"'ZZERO   '", b"' ZZERO  '"),
        # values FITS does not spell
        "val-lower-e.fits": primary([*WCS_BASE, kv("CRVAL1", "1.0e2")]),
        "val-tab.fits": primary([*WCS_BASE, "CRVAL1  =                100.0\t/ x"]),
        "val-hex.fits": primary([*WCS_BASE, kv("CRVAL1", "0x10")]),
        "val-inf.fits": primary([*WCS_BASE, kv("CRVAL1", "INF")]),
        "val-nan.fits": primary([*WCS_BASE, kv("CRVAL1", "NAN")]),
        "val-under.fits": primary([*WCS_BASE, kv("CRVAL1", "1_000.0")]),
        "val-noslash.fits": primary([*WCS_BASE, "CRVAL1  =                 10.0 200.0"]),
        "val-quote-open.fits": primary([*WCS_BASE, "CRVAL1  = 'abc"]),
        "val-two-str.fits": primary([*WCS_BASE, "CTYPE2  = 'RA---TAN' 'DEC--TAN'"]),
        # commentary and value indicator edges
        "continue-eq.fits": primary([*WCS_BASE, kv("CRVAL1", "10.0"), "CONTINUE= 'x'"]),
        "history-crval.fits": primary([*WCS_BASE, "HISTORYCRVAL1 = 200.0", kv("CRVAL1", "10.0")]),
        "keyword-space.fits": primary([*WCS_BASE, kv("CRVAL1", "10.0"), kv("CRVAL 1", "200.0")]),
        # CONTINUE edges
        "cont-after-int.fits": primary([kv("CRPIX1", "1"), "CONTINUE  '&'"]),
        "cont-quoted-amp.fits": primary(long_fits("X" * 65 + "''&")),
        "cont-exact.fits": primary(long_fits("X" * 67 + "&")),
        "cont-empty-tail.fits": primary([sv("OBJECT", "X" * 67 + "&"), "CONTINUE  ''"]),
        "cont-comment-only.fits": primary([sv("OBJECT", "X" * 67 + "&"), "CONTINUE  / x",
                                           "CONTINUE  'Y'"]),
        "cont-blank-between.fits": primary([sv("OBJECT", "X" * 67 + "&"), "", "CONTINUE  'Y'"]),
        "cont-comment-between.fits": primary([sv("OBJECT", "X" * 67 + "&"), "COMMENT x",
                                              "CONTINUE  'Y'"]),
        # type differences
        "type-str.fits": primary([*WCS_BASE, sv("CRVAL1", "abc")]),
        "type-logical.fits": primary([*WCS_BASE, kv("CRVAL1", "T")]),
        "type-str-num.fits": primary([*WCS_BASE, sv("CRVAL1", "200.0")]),
        "type-complex.fits": primary([*WCS_BASE, kv("CRVAL1", "(1.0, 2.0)")]),
        "type-none.fits": primary([*WCS_BASE, "CRVAL1  =                      / x"]),
        # END and padding
        "end-lower.fits": end_case(card("end")),
        "end-comment.fits": end_case(card("END     / x")),
        "pad-nul.fits": pad_case(b"\0"),
        "pad-text.fits": pad_case(b"X"),
        "data-tail.fits": primary([]) + b"PK\x03\x04payload",
    }


def dp_cards(first: str, second: str) -> list[str]:
    """A TPD distortion's DP1 cards with the field under test twice."""
    return [*WCS_BASE, kv("CRVAL1", "10.0"), sv("CPDIS1", "TPD"),
            kv("DP1", first), kv("DP1", second)]


# the second DQ1 card, beside `'TPD.FWD.1: 1.0'`, that sets a field astropy files apart
DQ_SECOND = {
    "zero": "'TPD.FWD.01: 3.0'",
    "trail": "'TPD.FWD.1: 3.0 '",
    "word": "'TPD.FWD.1: 3.0 x'",
    "zeros": "'TPD.FWD.001: 3.0'",
    "dot": "'TPD.FWD.1.: 3.0'",
    "dot0": "'TPD.FWD.1.0: 3.0'",
    "slash": "'TPD.FWD.1: 3.0/'",
    "comma": "'TPD.FWD.1: 3.0,'",
    "lower-e": "'TPD.FWD.1: 3e0'",
    "amp": "'TPD.FWD.1: 3.0&'",
    "two": "'TPD.FWD.1: 3.0 1'",
    "hex": "'TPD.FWD.1: 0x3'",
}


def linear(extra: list[str]) -> list[str]:
    """A 2-axis linear WCS (pixel (3, 4) is (3, 4)) then `extra`."""
    out = [kv("WCSAXES", "2")]
    for i in (1, 2):
        out += [kv(f"CRPIX{i}", "0.0"), kv(f"CDELT{i}", "1.0"), sv(f"CTYPE{i}", ""),
                kv(f"CRVAL{i}", "0.0")]
    return out + extra


def tpd_cards(second: str | None) -> list[str]:
    """A 2-axis linear WCS with a sequent TPD distortion, as astropy writes its cards."""
    out = linear([])
    for i in (1, 2):
        out += [sv(f"CQDIS{i}", "TPD"), sv(f"DQ{i}", "NAXES: 2"), sv(f"DQ{i}", "AXIS.1: 1"),
                sv(f"DQ{i}", "AXIS.2: 2"), sv(f"DQ{i}", f"TPD.FWD.{i}: 1.0")]
    return out + ([kv("DQ1", second)] if second else [])


def celestial(extra: list[str], proj: str = "TAN") -> list[str]:
    """A celestial WCS (ZPN: its PV2_1 moves every position)."""
    out = [kv("WCSAXES", "2"), sv("CTYPE1", f"RA---{proj}"), sv("CTYPE2", f"DEC--{proj}")]
    for i in (1, 2):
        out += [kv(f"CRPIX{i}", "0.0"), kv(f"CDELT{i}", "1.0"), kv(f"CRVAL{i}", "10.0")]
    return out + extra


def synonym(name: str, hostile: bool) -> bytes:
    """The honest file (the first card) or the hostile one (then wcslib's spelling = 3.0)."""
    first, second = SYNONYMS[name]
    honest, other = _SYN_VALUES.get(first, ("1.0", "3.0"))
    cards = [kv(first, honest)] + ([kv(second, other)] if hostile else [])
    if first[:2] in ("PC", "CD"):
        return primary(linear(cards), 16)
    return primary(celestial(cards, "ZPN" if first.startswith("PV") else "TAN"), 16)


def renamed(control: str, old: bytes, new: bytes) -> bytes:
    data = controls()[control]
    assert data.count(old) == 1, (control, old)
    return data.replace(old, new)


def long_fits(text: str) -> list[str]:
    """OBJECT as a string ending in `&` then a CONTINUE card."""
    return [f"OBJECT  = '{text}'", "CONTINUE  'Y'"]


def end_case(end: bytes) -> bytes:
    raw = card(kv("SIMPLE", "T")) + card(kv("BITPIX", "8")) + card(kv("NAXIS", "0")) + end
    return raw + b" " * (-len(raw) % 2880)


def pad_case(fill: bytes) -> bytes:
    raw = card(kv("SIMPLE", "T")) + card(kv("BITPIX", "8")) + card(kv("NAXIS", "0")) + card("END")
    return raw + fill * 4 + b" " * (-(len(raw) + 4) % 2880)


def _hdul_bytes(hdul: fits.HDUList) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdul.writeto(buf)
    return buf.getvalue()


def _file_bytes(hdul: fits.HDUList) -> bytes:
    """Through a real file: astropy writes random groups to a file, not to a BytesIO."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.fits"
        hdul.writeto(path)
        return path.read_bytes()


def controls() -> dict[str, bytes]:
    """astropy's own output of every kind the brief names."""
    return {**wcs_controls(), **header_controls(), **compressed_controls(), **table_controls()}


def wcs_controls() -> dict[str, bytes]:
    from astropy.wcs import WCS, Sip

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval, w.wcs.crpix, w.wcs.cdelt = [10, 20], [5, 5], [-1e-4, 1e-4]
    a = np.zeros((3, 3))
    a[2, 0], a[0, 2] = 1e-6, 2e-6
    w.sip = Sip(a, a.T, None, None, [5, 5])
    sip = fits.PrimaryHDU(np.zeros((10, 10), "f4"), header=w.to_header(relax=True))
    tpd = fits.PrimaryHDU(np.zeros((4, 4), "i2"))
    tpd.header.update(WCS(naxis=2).to_header())
    tpd.header["CPDIS1"] = "TPD"
    tpd.header["DP1"] = "NAXES: 2"
    tpd.header.append(("DP1", "AXIS.1: 1"))
    tpd.header.append(("DP1", "AXIS.2: 2"))
    tpd.header.append(("DP1", "TPD.FWD.0: 0.0"))
    tpd.header.append(("DP1", "TPD.FWD.1: 1.0"))
    return {"ctl/wcs-sip.fits": _hdul_bytes(fits.HDUList([sip])),
            "ctl/wcs-tpd.fits": _hdul_bytes(fits.HDUList([tpd]))}


def header_controls() -> dict[str, bytes]:
    hdu = fits.PrimaryHDU(np.arange(6, dtype="i4").reshape(2, 3))
    hdu.header["OBJECT"] = "a long object name " * 8
    hdu.header["HIERARCH ESO DET CHIP NAME"] = "CCD-44 chip " * 7
    hdu.header["HIERARCH ESO TEL AIRM START"] = 1.234
    hdu.header["HIERARCH ESO OBS ID"] = 12345
    hdu.header["BUNIT"] = "adu"
    hdu.header.add_history("reduced " * 20)
    hdu.header.add_comment("flat fielded")
    return {"ctl/hierarch-long.fits": _hdul_bytes(fits.HDUList([hdu]))}


def compressed_controls() -> dict[str, bytes]:
    ints = (np.arange(64 * 64, dtype="i2").reshape(64, 64) % 97).astype("i2")
    floats = np.sin(np.arange(64 * 64, dtype="f4")).reshape(64, 64)
    out = {}
    for ctype in ("RICE_1", "GZIP_1", "GZIP_2", "HCOMPRESS_1", "PLIO_1"):
        data = np.abs(ints) if ctype == "PLIO_1" else ints
        hdu = fits.CompImageHDU(data, compression_type=ctype)
        out[f"ctl/comp-int-{ctype}.fits"] = _hdul_bytes(fits.HDUList([fits.PrimaryHDU(), hdu]))
        if ctype == "PLIO_1":
            continue
        q = fits.CompImageHDU(floats, compression_type=ctype, quantize_level=16)
        out[f"ctl/comp-q-{ctype}.fits"] = _hdul_bytes(fits.HDUList([fits.PrimaryHDU(), q]))
    lossless = fits.CompImageHDU(floats, compression_type="GZIP_2", quantize_level=0)
    out["ctl/comp-lossless.fits"] = _hdul_bytes(fits.HDUList([fits.PrimaryHDU(), lossless]))
    return out


def table_controls() -> dict[str, bytes]:
    from astropy.table import Table
    from astropy.time import Time

    t = Table({"name": ["a", "bb"], "flux": [1.5, 2.5], "n": [1, 2]})
    t["flux"].unit = "Jy"
    t["when"] = Time(["2024-01-01T00:00:00", "2024-06-01T12:00:00"], scale="tai")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.write(buf, format="fits")
    ascii_t = fits.TableHDU.from_columns([fits.Column("x", "E12.4", array=np.array([1.5, 2]))])
    imdata = np.arange(2 * 3 * 4, dtype="f4").reshape(2, 1, 3, 4)
    pars = [np.array(v, dtype="f4") for v in ([1.0, 2.0], [0.5, 0.25], [10.0, 20.0])]
    groups = fits.GroupData(imdata, parnames=["UU", "VV", "DATE"], pardata=pars, bitpix=-32)
    groups_hdu = fits.GroupsHDU(groups)
    groups_hdu.header["PSCAL3"], groups_hdu.header["PZERO3"] = 1.0, 2460000.5
    return {"ctl/table-time.fits": buf.getvalue(),
            "ctl/random-groups.fits": _file_bytes(fits.HDUList([groups_hdu])),
            "ctl/table-ascii.fits": _hdul_bytes(fits.HDUList([fits.PrimaryHDU(), ascii_t]))}
