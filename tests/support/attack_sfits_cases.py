"""Files for independent attack s fits (session 40): astropy's serialized-column YAML in
COMMENT cards, the linear transform in two forms, and wcslib's other keyword spellings."""

from __future__ import annotations

import io
import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS, DistortionLookupTable

from tests.support.attack_rfits_cases import kv, primary, sv

CELESTIAL = [kv("WCSAXES", "2"), sv("CTYPE1", "RA---TAN"), sv("CTYPE2", "DEC--TAN"),
             kv("CRPIX1", "1.0"), kv("CRPIX2", "1.0"), kv("CRVAL1", "10.0"), kv("CRVAL2", "20.0")]
CDELT = [kv("CDELT1", "1.0"), kv("CDELT2", "1.0")]
SPECTRAL = [kv("WCSAXES", "1"), sv("CTYPE1", "FREQ"), kv("CRPIX1", "1.0"), kv("CRVAL1", "1.0E9"),
            kv("CDELT1", "1.0E6")]
XYZ = [kv("OBSGEO-X", "4449028.0"), kv("OBSGEO-Y", "784483.0"), kv("OBSGEO-Z", "4487419.0")]
LBH = [kv("OBSGEO-L", "100.0"), kv("OBSGEO-B", "-30.0"), kv("OBSGEO-H", "0.0")]
PC = [kv("PC1_1", "1.0"), kv("PC2_2", "1.0")]
CD = [kv("CD1_1", "1.0"), kv("CD2_2", "1.0")]
DESC_CARD = b"COMMENT - {name: a, unit: m, datatype: float64, description: x}".ljust(80)
# YAML's double-quoted escapes: \e is ESC, \a BEL; the card itself is printable ASCII
DESC_ESC = b'COMMENT - {name: a, datatype: float64, description: "\\e]0;pwn\\a\\e[2J"}'.ljust(80)
UNIT_CARD = b"COMMENT         unit: &id001 !astropy.units.Unit {unit: deg}".ljust(80)
FRAME_CARD = b"COMMENT       frame: icrs".ljust(80)
SERIAL_CARD = b"COMMENT - __serialized_columns__: {}".ljust(80)


def _table_bytes(table: Table) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(buf, format="fits")
    return buf.getvalue()


def described_table() -> bytes:
    """astropy's own output: a column with a unit and a description (serialized in YAML),
    an EXPTIME card from the table's meta."""
    table = Table({"a": [1.0, 2.0] * u.m}, meta={"EXPTIME": 100.0})
    table["a"].description = "x"
    return _table_bytes(table)


def skycoord_table() -> bytes:
    """astropy's own output: a SkyCoord column, its frame and unit in COMMENT YAML."""
    return _table_bytes(Table({"sc": SkyCoord([1, 2] * u.deg, [3, 4] * u.deg)}))


def _swap(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert raw.count(old) == 1 and len(new.ljust(80)) == 80, (old, new)
    return raw.replace(old, new.ljust(80))


def time_table() -> bytes:
    """astropy's own output: a Time column (TUNIT1 and TCUNI1 both 'd', TCTYP1 'TT')."""
    return _table_bytes(Table({"t": Time([58000.0, 58001.0], format="mjd", scale="tt"),
                               "v": [1, 2]}))


def hostile() -> dict[str, bytes]:
    sky = skycoord_table()
    return {
        # YAML in COMMENT cards: Table.read decodes it, acts on it
        "yaml-desc-esc.fits": _swap(described_table(), DESC_CARD, DESC_ESC),
        "yaml-meta-exptime.fits": _swap(described_table(), SERIAL_CARD,
                                        b"COMMENT - EXPTIME: 999.0"),
        "yaml-unit-rad.fits": _swap(sky, UNIT_CARD, UNIT_CARD.replace(b"deg}", b"rad}")),
        "yaml-frame-fk4.fits": _swap(sky, FRAME_CARD, b"COMMENT       frame: fk4"),
        # one time column's unit named twice: TUNIT1 'd' (astropy's Time), TCUNI1 's' (wcslib)
        "time-tcuni-s.fits": _swap(time_table(), b"TCUNI1  = 'd       '".ljust(80),
                                   b"TCUNI1  = 's       '"),
        # one instant named two ways, beside the listed DATE-OBS and MJD-OBS
        "date-beg-mjd-beg.fits": primary(CELESTIAL + CDELT + [sv("DATE-BEG", "2020-01-01T00:00:00"),
                                                               kv("MJD-BEG", "50000.0")], 16),
        "date-avg-mjd-avg.fits": primary(CELESTIAL + CDELT + [sv("DATE-AVG", "2020-01-01T00:00:00"),
                                                               kv("MJD-AVG", "50000.0")], 16),
        "date-obs-mjd-obs.fits": primary(CELESTIAL + CDELT + [sv("DATE-OBS", "2020-01-01T00:00:00"),
                                                               kv("MJD-OBS", "50000.0")], 16),
        # more values wcslib keeps in two keywords, not compared
        "obsgeo-xyz-lbh.fits": primary(CELESTIAL + CDELT + XYZ + LBH, 16),
        "restfrq-restwav.fits": primary(SPECTRAL + [kv("RESTFRQ", "1.42E9"), kv("RESTWAV", "0.5")], 16),
        "specsys-velref.fits": primary(SPECTRAL + [sv("SPECSYS", "LSRK"), kv("VELREF", "258")], 16),
        "jepoch-mjd-obs.fits": primary(CELESTIAL + CDELT + [kv("MJD-OBS", "50000.0"),
                                                             kv("JEPOCH", "2020.0")], 16),
        # the linear transform in two forms: wcslib takes PC (CD), cfitsio CDELT and CROTA2
        "crota-beside-pc.fits": primary(CELESTIAL + CDELT + PC + [kv("CROTA2", "30.0")], 16),
        "cdelt-beside-cd.fits": primary(CELESTIAL + CD + [kv("CDELT1", "3.0")], 16),
        # refused as claimed: one keyword to wcslib, two to astropy's Header
        "crder01.fits": primary(CELESTIAL + CDELT + [kv("CRDER1", "1.0"), kv("CRDER01", "2.0")], 16),
        "cname01.fits": primary(CELESTIAL + CDELT + [sv("CNAME1", "a"), sv("CNAME01", "b")], 16),
        "epoch.fits": primary(CELESTIAL + CDELT + [sv("RADESYS", "FK5"), kv("EQUINOX", "2000.0"),
                                                    kv("EPOCH", "1950.0")], 16),
        "mjdreff-alone.fits": primary(CELESTIAL + CDELT + [kv("MJDREF", "51544.5"),
                                                            kv("MJDREFF", "0.25")], 16),
        "mjdrefi-alone.fits": primary(CELESTIAL + CDELT + [kv("MJDREF", "51544.5"),
                                                            kv("MJDREFI", "50000")], 16),
        "timesys-twice.fits": primary(CELESTIAL + CDELT + [sv("TIMESYS", "TT"),
                                                            sv("TIMESYS", "UTC")], 16),
    }


def honest_twins() -> dict[str, bytes]:
    """Each linear-transform hole without its second form: what an honest writer writes."""
    return {"honest/pc.fits": primary(CELESTIAL + CDELT + PC, 16),
            "honest/cd.fits": primary(CELESTIAL + CD, 16)}


def _hdu_bytes(hdul: fits.HDUList) -> bytes:
    buf = io.BytesIO()
    hdul.writeto(buf)
    return buf.getvalue()


def _wcs_image(header: fits.Header) -> bytes:
    return _hdu_bytes(fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4), "f4"), header)]))


def lookup_distortion(attrs: tuple[str, str]) -> bytes:
    """astropy's own WCS.to_fits of a lookup-table distortion (cpdis: DPj cards, det2im:
    D2IMj cards, both record-valued, each keyword on four cards), a WCSDVARR per axis."""
    w = WCS(naxis=2)
    w.wcs.ctype, w.wcs.crval, w.wcs.cdelt = ["RA---TAN", "DEC--TAN"], [10, 20], [1e-3, 1e-3]
    for attr in attrs:
        table = np.full((4, 4), 0.5, "f4")
        setattr(w, attr, DistortionLookupTable(table, (1.0, 1.0), (1.0, 1.0), (1.0, 1.0)))
    hdul = w.to_fits()
    hdul[0].data = np.zeros((4, 4), "f4")
    return _hdu_bytes(hdul)


def controls() -> dict[str, bytes]:
    """astropy 8's own output, each meeting a rule above."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rot = WCS(naxis=2)
        rot.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        rot.wcs.crval, rot.wcs.cdelt = [10, 20], [-1e-3, 1e-3]
        rot.wcs.pc = [[0.8, -0.6], [0.6, 0.8]]
        rot.wcs.mjdref, rot.wcs.dateobs = [51544, 0.5], "2020-01-01T00:00:00"
        cd = fits.Header()  # astropy's WCS writes PC; an IRAF-style CD header by fits.Header
        for key, value in [("CTYPE1", "RA---TAN"), ("CTYPE2", "DEC--TAN"), ("CRVAL1", 10.0),
                           ("CRVAL2", 20.0), ("CD1_1", -1e-3), ("CD2_2", 1e-3)]:
            cd[key] = value
        spec = WCS(naxis=1)
        spec.wcs.ctype, spec.wcs.restfrq, spec.wcs.specsys = ["FREQ"], 1.42e9, "LSRK"
        ccd = CCDData(np.ones((4, 4)), unit="adu", wcs=rot)
        ccd_buf = io.BytesIO()
        ccd.write(ccd_buf, format="fits")
        return {
            "ctl/table-described.fits": described_table(),
            "ctl/table-skycoord.fits": skycoord_table(),
            "ctl/table-time.fits": time_table(),
            "ctl/wcs-rotated-pc.fits": _wcs_image(rot.to_header()),
            "ctl/wcs-cd.fits": _wcs_image(cd),
            "ctl/wcs-spectral.fits": _hdu_bytes(fits.HDUList(
                [fits.PrimaryHDU(np.zeros(8, "f4"), spec.to_header())])),
            "ctl/ccddata.fits": ccd_buf.getvalue(),
            "ctl/wcs-cpdis.fits": lookup_distortion(("cpdis1", "cpdis2")),
        }
