"""Independent attack f on the ROOT and HDF5 claims (issue #13, session 33).

Attacks docs/quarantine.md's ROOT and HDF5 rows and their "what exactness leaves", not
the code (neither the validators nor their tests were read). New classes here:
- ROOT codec headers: uproot handed a codec whose streams carry a payload where no reader
  looks (an xz block header's BCJ start offset, a zstd Window_Descriptor or content
  checksum, a zlib header's window bits); a basket block that is no stream at all; a
  histogram's zstd block that decodes to nothing (ZS blocks are not inflated);
- ROOT unlisted structure: a basket key's name, title, cycle and parent, an RBlob key's
  cycle and parent, an uncompressed basket's offsets array, the RNTuple anchor's
  fMaxKeySize and checksums;
- ROOT free space: the bound on what an older TTree uproot moved may leave, and a record
  forged in a zero gap (a "deleted record" no job deleted);
- refused as claimed (non-hits): HDF5 bounds added in session 32 (a freed continuation
  block's remains, an extensible array's high-water mark and unused slot, a local heap
  name's padding), the ROOT-C++ relaxations (fCompress, UUID v3, keys-list class, I/O
  bits), a histogram's LZ4 checksum;
- false rejections: h5py groups in dense storage reopened and added to, resize() of
  chunked datasets, uproot's `del` of a subdirectory; a crash: an HDF5 file cut after
  its signature.
Files: tests/support/attack_fbinary_{root,codecs,rootcxx,hdf5}.py. All go into ONE
quarantine vetted once through the CLI with the shipped batch policy's allow_types. A
hostile file carries PAYLOAD (or, BITS_ONLY, a few chosen bits); a hole is a strict xfail
saying what got out (HOLES); ordinary output must be published byte-identical
(FALSE_REJECTIONS).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("h5py")
pytest.importorskip("uproot")

from tests.support import attack_fbinary_codecs as codecfiles  # noqa: E402
from tests.support import attack_fbinary_hdf5 as h5files  # noqa: E402
from tests.support import attack_fbinary_root as rootfiles  # noqa: E402
from tests.support import attack_fbinary_rootcxx as cxxfiles  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ALLOW = "allow_types: [text, csv, json, root, fits, hdf5, gzip]"  # policy/batch.yaml's
POLICY = f"""\
apiVersion: vmguard/v1
kind: Policy
metadata: {{name: attack-fbinary}}
spec:
  quarantine:
    {ALLOW}
    forbid: [symlinks, hardlinks, special_files, setuid, executables]
    promote: {{mode: per-file, file_mode: 0644, dir_mode: 0755}}
"""

_UNREAD = "no reader returns them"
_FAILS = "uproot's reader fails on that record, the bytes are in the published file all the same"
HOLES = {
    "root-xz-bcj-start-offset.root":
        "published: every xz block's filter chain leads with x86 BCJ whose 4-byte start "
        "offset is PAYLOAD (uproot reads the file; 'an xz block is its stream exactly' "
        "checks the stream, not which filters its block header lists): 4 bytes a block, "
        + _UNREAD,
    "root-zl-window-bits.root":
        "published: every zlib stream's header declares a 512-byte window (CINFO 1, not "
        "zlib's 7; the docs leave the level bits, 2 bits a block, not these 3): a file "
        "uproot reads whole, 3 bits a block a writer chooses",
    "root-zs-window-descriptor.root":
        "published: every zstd frame drops the single-segment flag and carries a "
        "Window_Descriptor byte, 'P' (a 1 MiB window): a file uproot reads whole, about "
        "7 bits a block a writer chooses (exponent and mantissa of any window the decoder "
        "accepts)",
    "root-zs-bad-checksum.root":
        "published: every zstd frame sets the content-checksum flag and carries PAYLOAD as "
        "its checksum (4 bytes a block, histogram and StreamerInfo included: zstd blocks "
        "are walked, not decoded, in any record); " + _FAILS,
    "root-l4-basket-no-block.root":
        "published: each of the int32 branch's two baskets holds 10,000 bytes of PAYLOAD "
        "where the LZ4 block should be (uproot wrote the header and the XXH64 of those bytes); " + _FAILS,
    "root-zs-hist-undecodable.root":
        "published: the histogram's zstd block is a well-formed frame header and one "
        "'compressed' block of about 200 bytes of PAYLOAD (the docs inflate ZL, L4 and XZ "
        "blocks of non-basket records, not ZS); " + _FAILS,
    "root-zl-basket-no-stream.root":
        "published: each of the int32 branch's two baskets holds 10,000 bytes of PAYLOAD "
        "where the zlib stream should be: no stream at all, beyond the documented 'bytes after its "
        "stream'; " + _FAILS,
}

FALSE_REJECTIONS = {
    **dict.fromkeys(
        ("ctl-h5-shrink-first-of-two.h5", "ctl-h5-shrink-image-reopened.h5"),
        "refused by design (`... after a chunk of /s: perhaps the data of chunks a shrink "
        "(resize()) pruned ...: h5repack the file`): the chunks HDF5 pruned lie before "
        "another structure, so they stay in the file with data the dataset no longer holds "
        "(docs: only pruned chunks at the file's end are gone; tests/quarantine/"
        "test_hdf5_resized.py)"),
}


@pytest.fixture(scope="module")
def vetted(tmp_path_factory):
    assert ALLOW in (REPO / "policy" / "batch.yaml").read_text()
    base = tmp_path_factory.mktemp("attackfb")
    made = base / "made"
    ordinary = {**rootfiles.controls(made / "ctl"), **h5files.controls()}
    attacks = {**rootfiles.hostile(made / "hostile"), **codecfiles.hostile(made / "codec"),
               **cxxfiles.hostile(), **h5files.hostile()}
    malformed = h5files.malformed()
    q = base / "q"
    q.mkdir()
    for name, data in {**ordinary, **attacks, **malformed}.items():
        (q / name).write_bytes(data)
        os.chmod(q / name, 0o644)
    (base / "p.yaml").write_text(POLICY)
    out = base / "pub" / "job1"
    cmd = [sys.executable, "-m", "vmguard", "vet", str(q), "--policy", str(base / "p.yaml")]
    cmd += ["--to", str(out), "--job", "job1", "--format", "json"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, capture_output=True, env=env, timeout=300, check=False)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    entries = {e["path"]: e for e in json.loads(proc.stdout)["entries"]}
    return {"ordinary": ordinary, "attacks": attacks, "entries": entries, "out": out,
            "rc": proc.returncode, "made": made}


def _marked(names, table):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=table[n]))
            if n in table else n for n in sorted(names)]


ROOT_ATTACKS = sorted(rootfiles.HOSTILE_NAMES + codecfiles.HOSTILE_NAMES + cxxfiles.HOSTILE_NAMES)
H5_ATTACKS = sorted(h5files.HOSTILE_NAMES)
ORDINARY = sorted(rootfiles.CONTROL_NAMES + h5files.CONTROL_NAMES)


# Cases that change numbers, bits or 2 bytes ("PW"), not 4 bytes of PAYLOAD.
BITS_ONLY = {"h5-ea-high-water-past-elements.h5", "root-zl-window-bits.root",
             "root-zs-window-descriptor.root", "root-basket-key-cycle.root", "root-rblob-key-cycle.root",
             "root-fcompress-600.root", *cxxfiles.HOSTILE_NAMES}


def test_every_exemption_names_a_real_case():
    assert set(HOLES) <= set(ROOT_ATTACKS + H5_ATTACKS)
    assert set(FALSE_REJECTIONS) <= set(ORDINARY)
    assert set(CRASHES) <= set(h5files.MALFORMED_NAMES)


def test_the_cases_are_the_files(vetted):
    assert sorted(vetted["attacks"]) == sorted(ROOT_ATTACKS + H5_ATTACKS)
    assert sorted(vetted["ordinary"]) == ORDINARY


@pytest.mark.parametrize("name", _marked(ORDINARY, FALSE_REJECTIONS))
def test_ordinary_output_published_byte_identical(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "accepted", entry["detail"]
    assert (vetted["out"] / name).read_bytes() == vetted["ordinary"][name]


@pytest.mark.parametrize("name", ROOT_ATTACKS + H5_ATTACKS)
def test_attack_file_carries_the_payload(vetted, name):
    """The attack is real: the payload is in the file, and the file is what the real tool
    wrote but for the case's patch (ROOT: uproot opens it; HDF5: libhdf5 reads it all)."""
    data = vetted["attacks"][name]
    assert (rootfiles.PAYLOAD in data) or name in BITS_ONLY
    assert (rootfiles.opens(data) if name.endswith(".root")
            else h5files.readable(data))


READ_AS = {  # a readable hole: uproot returns what it returns for the control
    "root-xz-bcj-start-offset.root": "ctl-xz-hist-tree.root",
    "root-zl-window-bits.root": "ctl-xz-hist-tree.root",
    "root-zs-window-descriptor.root": "ctl-zstd-hist-tree.root",
    "root-basket-offsets-count.root": "ctl-jagged-uncompressed.root",
    "root-basket-offsets-last.root": "ctl-jagged-uncompressed.root",
    "root-rntuple-anchor-max-key-size.root": "ctl-rntuple-uncompressed.root",
    **{f"root-basket-key-{f}.root": "ctl-events-uncompressed.root"
       for f in ("name", "title", "cycle", "parent")},
    **{f"root-rblob-key-{f}.root": "ctl-rntuple-uncompressed.root" for f in ("cycle", "parent")},
}


@pytest.mark.parametrize("name", sorted(READ_AS))
def test_readable_hole_reads_as_its_control(vetted, name):
    """These holes are in files uproot reads whole: the same histograms and trees as the
    control uproot wrote itself."""
    files = {**vetted["ordinary"], **vetted["attacks"]}
    assert rootfiles.contents(files[name]) == rootfiles.contents(files[READ_AS[name]])


@pytest.mark.parametrize("name", _marked(ROOT_ATTACKS + H5_ATTACKS, HOLES))
def test_attack_refused(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected", f"published: {name}"
    assert entry["detail"].split(":")[0] in ("root", "hdf5"), entry["detail"]
    assert not (vetted["out"] / name).exists()


CRASHES: dict[str, str] = {}


@pytest.mark.parametrize("name", _marked(h5files.MALFORMED_NAMES, CRASHES))
def test_malformed_file_refused_with_its_format_reason(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected"
    assert entry["detail"].startswith("hdf5: "), entry["detail"]


def test_whole_run_exit_code(vetted):
    """Per-file mode: refusals give exit 1; the rest is still published."""
    assert vetted["rc"] == 1
