"""One FITS keyword once as wcslib reads it (fitswcskeys.py, session 40, attack r fits).

wcslib (astropy.wcs) reads other spellings of a keyword and takes the last card, where
astropy's Header files each spelling apart and shows the first: each spelling after the
card astropy writes is shown to move what astropy.wcs computes, then refused naming the
rule. A distortion's DPja/DQia card must be a record as astropy writes it. astropy's own
WCS output (SIP, a TPD distortion's DP and DQ cards, an alternate WCS A, a spectral axis
with RESTFRQ, RADESYS, the PV1_3/LONPOLE pair astropy writes) passes, published
byte-identical by `vmguard vet`."""

from __future__ import annotations

import hashlib
import io
import warnings

import pytest

np = pytest.importorskip("numpy")
fits = pytest.importorskip("astropy.io.fits")

from astropy.wcs import WCS, Sip  # noqa: E402

from tests.quarantine.test_attack_independent_dcontent import _policy  # noqa: E402
from tests.quarantine.test_attack_independent_econtent import _vet  # noqa: E402
from tests.support import attack_qfits_fits as ff  # noqa: E402
from tests.support.fits_tables import check, check_or_none  # noqa: E402
from vmguard.quarantine.validators.fitswcskeys import wcs_name  # noqa: E402

warnings.simplefilter("ignore")


def _bytes(*hdus) -> bytes:  # noqa: ANN002
    out = io.BytesIO()
    fits.HDUList(list(hdus)).writeto(out)
    return out.getvalue()


def _image(w: WCS, relax: bool = False) -> bytes:
    return _bytes(fits.PrimaryHDU(np.arange(16, dtype="i2").reshape(4, 4), header=w.to_header(relax=relax)))


def _celestial(proj: str = "ZPN") -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = [f"RA---{proj}", f"DEC--{proj}"]
    w.wcs.crval, w.wcs.crpix, w.wcs.cdelt = [10.0, 20.0], [2.0, 2.0], [-0.5, 0.5]
    if proj == "ZPN":
        w.wcs.set_pv([(2, 1, 1.0), (2, 3, 0.05)])
    return w


def _alternate() -> bytes:
    """A primary WCS and an alternate one, A: PC1_1 and PC1_1A, CRVAL1 and CRVAL1A."""
    primary = _celestial("TAN")
    primary.wcs.pc = [[0.9, 0.1], [-0.1, 0.9]]
    hdu = fits.PrimaryHDU(np.zeros((4, 4), "i2"), header=primary.to_header())
    alt = WCS(naxis=2)
    alt.wcs.ctype, alt.wcs.crval = ["LINEAR", "LINEAR"], [1.0, 2.0]
    alt.wcs.pc = [[0.5, 0.1], [0.0, 1.0]]
    hdu.header.update(alt.to_header(key="A"))
    return _bytes(hdu)


def _spectral() -> bytes:
    w = WCS(naxis=3)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN", "FREQ"]
    w.wcs.crval, w.wcs.cdelt = [10.0, 20.0, 1.4e9], [-0.5, 0.5, 1e5]
    w.wcs.restfrq, w.wcs.radesys, w.wcs.equinox, w.wcs.specsys = 1.42e9, "FK5", 2000.0, "LSRK"
    return _bytes(fits.PrimaryHDU(np.zeros((2, 3, 3), "f4"), header=w.to_header()))


def _poles() -> bytes:
    """astropy writes PV1_3 and PV1_4 beside LONPOLE and LATPOLE, one value each."""
    w = _celestial("TAN")
    w.wcs.set_pv([(1, 3, 170.0), (1, 4, 10.0)])
    return _image(w)


def _sip() -> bytes:
    w = _celestial("TAN")
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    a = np.zeros((3, 3))
    a[2, 0], a[1, 1] = 1e-5, -2e-6
    w.sip = Sip(a, a.T, None, None, [2.0, 2.0])
    return _image(w, relax=True)


def _tpd(kinds: str) -> bytes:
    """A linear WCS with a prior (DP) or sequent (DQ) TPD distortion on both axes, or both
    (astropy.wcs reads CPDISj itself: it maps only the DQ one)."""
    hdu = fits.PrimaryHDU(np.zeros((4, 4), "i2"))
    hdu.header.update(WCS(naxis=2).to_header())
    for i in (1, 2):
        for kind in kinds:
            hdu.header[f"C{kind}DIS{i}"] = "TPD"
            hdu.header[f"D{kind}{i}"] = "NAXES: 2"
            for card in ("AXIS.1: 1", "AXIS.2: 2", f"TPD.FWD.{i}: 1.0", "TPD.FWD.3: 1E-05", "OFFSET.1: -2"):
                hdu.header.append((f"D{kind}{i}", card))
    return _bytes(hdu)


def _polynomial() -> bytes:
    """A sequent Polynomial distortion: fields with a name after an index (AUX.1.COEFF.0,
    TERM.1.VAR.1), which wcslib reads by name."""
    hdu = fits.PrimaryHDU(np.zeros((4, 4), "i2"))
    hdu.header.update(WCS(naxis=2).to_header())
    for i in (1, 2):
        hdu.header[f"CQDIS{i}"] = "Polynomial"
        hdu.header[f"DQ{i}"] = "NAXES: 2"
        for card in ("AXIS.1: 1", "AXIS.2: 2", "NAUX: 1", "AUX.1.COEFF.0: 0.0", "AUX.1.COEFF.1: 1.0",
                     "AUX.1.POWER.0: 1.0", "NTERMS: 2", "TERM.1.COEFF: 1.0", "TERM.1.VAR.1: 1.0",
                     "TERM.2.COEFF: 0.01", "TERM.2.VAR.1: 2.0", "TERM.2.VAR.2: 1.0"):
            hdu.header.append((f"DQ{i}", card))
    return _bytes(hdu)


CONTROLS = {"alternate.fits": _alternate(), "spectral.fits": _spectral(), "poles.fits": _poles(),
            "zpn.fits": _image(_celestial()), "sip.fits": _sip(), "tpd.fits": _tpd("Q"), "tpd-dp-dq.fits": _tpd("PQ"),
            "polynomial.fits": _polynomial()}


def _view(data: bytes, alt: str = " ") -> tuple:
    """What astropy.wcs makes of the primary header: a position, frame, rest frequency."""
    w = WCS(fits.getheader(io.BytesIO(data)), key=alt)
    return tuple(w.all_pix2world([[3.0, 4.0] + [1.0] * (w.naxis - 2)], 1)[0]), w.wcs.radesys, w.wcs.restfrq


# a. one keyword in another spelling: (the control, the spelling wcslib reads as its card)
SPELLINGS = {
    "PC1_1": ("alternate.fits", "PC001001=                  3.0"),
    "PC1_1 ": ("alternate.fits", "PC01_01 =                  3.0"),
    "PC1_1  ": ("alternate.fits", "PC1_01  =                  3.0"),
    "PC1_1A": ("alternate.fits", "PC01_1A =                  3.0"),
    "PV2_1": ("zpn.fits", "PV2_01  =                  3.0"),
    "PV2_1 ": ("zpn.fits", "PROJP1  =                  3.0"),
    "LONPOLE": ("zpn.fits", "PV1_3   =                 90.0"),
    "LATPOLE": ("zpn.fits", "PV1_4   =                 80.0"),
    "RESTFRQ": ("spectral.fits", "RESTFREQ=                2.0E9"),
    "RADESYS": ("spectral.fits", "RADECSYS= 'FK4     '"),
    "EQUINOX": ("spectral.fits", "EPOCH   =               1950.0"),
}


@pytest.mark.parametrize("key", sorted(SPELLINGS))
def test_another_spelling_of_a_keyword_is_refused(key):
    control, card = SPELLINGS[key]
    data = ff.add_cards(CONTROLS[control], [card])
    assert fits.getheader(io.BytesIO(data))[key.strip()] == fits.getheader(io.BytesIO(CONTROLS[control]))[key.strip()]
    if key.strip() not in ("LATPOLE", "EQUINOX"):  # these move no position here
        alt = "A" if key.endswith("A") else " "
        assert _view(data, alt) != _view(CONTROLS[control], alt)
    message = check_or_none(data)
    assert message is not None, card
    assert "appears more than once in a header" in message or "name one value to wcslib" in message, message


def test_aips_cd_beside_cd_is_refused():
    data = ff.add_cards(CONTROLS["alternate.fits"], ["CD1_1   =                  0.5", "CD001001=                  3.0"])
    assert "the keyword CD1_1 appears more than once in a header (CD1_1 then CD001001" in (check_or_none(data) or "")


def test_an_alternate_wcs_letter_is_another_keyword():
    assert wcs_name(b"PC01_01A") == b"PC1_1A" != wcs_name(b"PC1_1")
    assert wcs_name(b"CRVAL01") == b"CRVAL1" and wcs_name(b"PC002003") == b"PC2_3"
    assert wcs_name(b"EPOCHB") == b"EQUINOXB" and wcs_name(b"OBJECT") == b"OBJECT"
    assert check(CONTROLS["alternate.fits"]) == "fits"


def test_a_pole_pair_of_one_value_passes_and_of_two_is_refused():
    data = CONTROLS["poles.fits"]
    assert b"PV1_3   =                170.0" in data and b"LONPOLE =                170.0" in data
    hostile = data.replace(b"LONPOLE =                170.0", b"LONPOLE =                 90.0")
    assert fits.getheader(io.BytesIO(hostile))["LONPOLE"] == 90.0
    assert WCS(fits.getheader(io.BytesIO(hostile))).wcs.lonpole == 170.0  # PV1_3 wins
    message = check_or_none(hostile)
    assert message is not None and "LONPOLE and PV1_3 name one value to wcslib" in message, message


def test_pv_of_a_latitude_axis_is_not_the_pole():
    """PV2_3 of a ZPN latitude axis is a projection parameter beside LONPOLE: it passes."""
    data = CONTROLS["zpn.fits"]
    assert b"PV2_3   =" in data and b"LONPOLE =" in data and check(data) == "fits"


# b. a DPja/DQia record as astropy writes it
BAD_RECORDS = ["'TPD.FWD.01: 3.0'", "'TPD.FWD.1.: 3.0'", "'TPD.FWD.1.0: 3.0'", "'TPD.FWD.1.X: 3.0'",
               "'TPD.FWD.1X: 3.0'", "'TPD.FWD.1: 3.0 '", "'TPD.FWD.1: 3.0 x'", "'TPD.FWD.1: 3e0'",
               "'TPD.FWD.1: 0x3'", "'TPD.FWD.1:  3.0'", "'TPD.FWD.1: 3.0D0'", "'TPD.FWD.+1: 3.0'",
               "'TPD.FWD.1: +3.0'", "'.FWD.1: 3.0'", "'TPD'", "'OFFSET.1.X: 5.0'",
               "'SCALE.1.X: 5.0'", "'TPD.FWD.1_0: 3.0'"]


@pytest.mark.parametrize("value", BAD_RECORDS)
def test_a_record_not_as_astropy_writes_it_is_refused(value):
    data = ff.add_cards(CONTROLS["tpd.fits"], [f"DQ2     = {value}"])
    message = check_or_none(data)
    assert message is not None and "record-valued card not written as astropy writes one" in message, message


def test_a_record_field_twice_is_refused_and_the_harm_shown():
    data = ff.add_cards(CONTROLS["tpd.fits"], ["DQ1     = 'TPD.FWD.1: 3.0'"])
    assert fits.getheader(io.BytesIO(data))["DQ1.TPD.FWD.1"] == 1.0
    assert _view(data) != _view(CONTROLS["tpd.fits"])
    assert "the keyword DQ1.TPD.FWD.1 appears more than once" in (check_or_none(data) or "")


def test_a_record_keyword_spelled_with_a_leading_zero_counts_as_its_keyword():
    data = ff.add_cards(CONTROLS["tpd.fits"], ["DQ01    = 'TPD.FWD.1: 3.0'"])
    message = check_or_none(data)
    assert message is not None and "DQ1.TPD.FWD.1 appears more than once in a header (DQ1 then DQ01" in message


# c. astropy's own output
@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    return _vet(tmp_path_factory.mktemp("fitswcs"), "fitswcs", CONTROLS, _policy())


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_astropys_wcs_output_is_published_byte_identical(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry
    published = (vetted["out"] / name).read_bytes()
    assert published == CONTROLS[name] and entry["sha256"] == hashlib.sha256(published).hexdigest()


def test_wcslib_reads_a_field_by_its_numbers_and_a_polynomial_passes():
    """OFFSET.1.X is OFFSET.1 to wcslib (5 shifts every pixel), a field apart to astropy."""
    hostile = ff.add_cards(CONTROLS["tpd.fits"], ["DQ1     = 'OFFSET.1.X: 5.0'"])
    assert fits.getheader(io.BytesIO(hostile))["DQ1.OFFSET.1.X"] == 5.0
    assert _view(hostile) != _view(CONTROLS["tpd.fits"])
    assert _view(CONTROLS["polynomial.fits"])[0] != _view(_image(WCS(naxis=2)))[0]
    assert check(CONTROLS["polynomial.fits"]) == "fits"


def test_controls_hold_what_the_rules_read():
    assert b"A_2_0" in CONTROLS["sip.fits"] and b"PC1_1A  =" in CONTROLS["alternate.fits"]
    assert b"DQ2     = 'TPD.FWD.3: 1E-05'" in CONTROLS["tpd.fits"]
    assert b"DP1     = 'OFFSET.1: -2'" in CONTROLS["tpd-dp-dq.fits"]
    assert b"RESTFRQ =" in CONTROLS["spectral.fits"] and b"RADESYS = 'FK5'" in CONTROLS["spectral.fits"]


# d. one reference time, however many ways a header names it
@pytest.mark.parametrize("cards", [["MJDREFI =                51544"], ["MJDREFF =                  0.5"],
                                   ["JDREF   =            2451545.0"], ["JDREFI  =              2451545"]])
def test_a_second_reference_time_is_refused(cards):
    """astropy writes MJDREF = 0.0; wcslib files MJDREFI, JDREF ... in the same place."""
    data = ff.add_cards(CONTROLS["spectral.fits"], cards)
    assert fits.getheader(io.BytesIO(data))["MJDREF"] == 0.0
    if cards[0].startswith("MJDREF"):
        assert list(WCS(fits.getheader(io.BytesIO(data))).wcs.mjdref) != [0.0, 0.0]
    message = check_or_none(data)
    assert message is not None and "name one reference time to wcslib but hold two" in message, message


def test_one_reference_time_written_two_ways_passes():
    one = ["MJDREFI =                51910", "MJDREFF =    7.428703703703E-4", "JDREFI  =              2451910",
           "JDREFF  =    0.5007428703703703"]
    data = ff.add_cards(CONTROLS["spectral.fits"], one, drop=("MJDREF  ",))
    data = ff.add_cards(data, ["MJDREF  = 51910.0007428703703703"])
    assert WCS(fits.getheader(io.BytesIO(data))).wcs.mjdref[1] == 0.0007428703703703
    assert check(data) == "fits"


def test_pc_beside_cd_is_refused_and_an_alternate_cd_passes():
    """wcslib takes PC1_1 whatever the order; CD1_1A of the alternate WCS is another one."""
    data = ff.add_cards(CONTROLS["alternate.fits"], ["CD1_1   =                  5.0"])
    assert _view(data) == _view(CONTROLS["alternate.fits"]) and fits.getheader(io.BytesIO(data))["CD1_1"] == 5.0
    assert "holds both PCi_j and CDi_j" in (check_or_none(data) or "")
    other = ff.add_cards(CONTROLS["zpn.fits"], ["CD1_1A  =                  5.0", "CTYPE1A = 'LINEAR'"])
    assert check(other) == "fits"
