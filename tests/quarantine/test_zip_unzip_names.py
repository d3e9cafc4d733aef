"""A zip member whose name Info-ZIP's unzip on Unix converts (an entry made by MS-DOS:
cp437 to ISO-8859-1, the UTF-8 flag notwithstanding) is refused when the name is not
ASCII: unzip would unpack another name than the one judged (issue #13, attack n's
zip-n-dos-*). Controls: zipfile as on Linux (any name) and as on Windows (ASCII names)."""

from __future__ import annotations

import pytest

from tests.quarantine.test_containers_archives import vet
from tests.support import attack_ncontent_zip as made
from vmguard.quarantine.validators import Invalid, ziparchive


@pytest.mark.parametrize("name", sorted(made.HOSTILE))
def test_attack_n_names_unzip_converts_are_refused(name):
    with pytest.raises(Invalid, match="non-ASCII name in an entry made by MS-DOS"):
        vet(made.HOSTILE[name][0])


def test_a_windows_zip_of_ascii_names_and_a_linux_zip_of_any_names_pass():
    for host, names in ((0, ["a.csv", "d/b-1.csv"]), (3, ["a.csv", "caf\u00e9.csv", "\u0118x.csv"])):
        assert vet(made.made([(n, made.SHOWN) for n in names], host))[0] == ("application/zip", "zip")


def test_a_windows_zip_of_a_non_ascii_name_is_refused():
    with pytest.raises(Invalid, match="MS-DOS"):
        vet(made.made([("caf\u00e9.csv", made.SHOWN)], 0))


@pytest.mark.parametrize(
    ("system", "version", "converts"),
    [(0, 20, True), (0, 30, True), (3, 30, False), (3, 20, False), (6, 20, True), (11, 50, True), (11, 30, False)],
)
def test_which_hosts_unzip_converts(system, version, converts):
    assert ziparchive.unzip_converts(system, version) is converts
