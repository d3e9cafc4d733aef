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
    **{f"root-basket-offsets-{which}.root":
        f"published: PAYLOAD as the {what} of an uncompressed basket's offsets array (a "
        "jagged branch: 'an offsets array of fNevBuf + 1 follows them' is its length, not "
        f"its values){tail}"
        for which, what, tail in (
            ("count", "count (fNevBuf + 1)", ": uproot reads the tree as written, 4 bytes a basket"),
            ("last", "last offset", ": uproot reads the tree as written, 4 bytes a basket"),
            ("first", "first offset", "; " + _FAILS))},
    "root-rntuple-anchor-max-key-size.root":
        "published: the RNTuple anchor's fMaxKeySize (uproot writes 0) is PAYLOAD, the "
        "anchor's xxh3 recomputed: uproot reads the RNTuple as written, 8 bytes a file "
        "(unless the docs' 'a record's payload is data' is meant to cover the anchor, "
        "which is structure: seeks, lengths, a checksum)",
    "root-rntuple-anchor-checksum.root":
        "published: the RNTuple anchor's xxh3 checksum is PAYLOAD (8 bytes); uproot "
        "refuses the anchor, the bytes are in the published file all the same",
    "root-rntuple-footer-checksum.root":
        "published: the RNTuple footer envelope's xxh3 checksum is PAYLOAD (8 bytes an "
        "envelope, not verified); " + _FAILS,
    **{f"root-basket-key-{field}.root":
        f"published: PAYLOAD as the {what} of a basket's key (no keys list holds it; the "
        "docs pin a basket key's 19 bytes after its title and bound its datime, not these): "
        "uproot reads the tree as written"
        for field, what in (("name", "name (the branch's, 8 bytes: any length up to 255)"),
                            ("title", "title (the tree's name, 6 bytes: any length up to 255)"),
                            ("cycle", "cycle (uproot writes 1; 2 bytes)"),
                            ("parent", "fSeekPdir (the top directory's position; 4 or 8 bytes)"))},
    **{f"root-rblob-key-{field}.root":
        f"published: PAYLOAD as an RNTuple page's RBlob key {what}: uproot reads the "
        "RNTuple as written"
        for field, what in (("cycle", "cycle (uproot writes 0; 2 bytes a blob)"),
                            ("parent", "fSeekPdir (uproot writes 0; 8 bytes a blob)"))},
    "root-moved-tree-loose-bound-plus-8.root":
        "published: 177 bytes of PAYLOAD inside the older TTree uproot moved (the docs' "
        "bound on loose bytes: 24 + 1 per 128 bytes of live tree payload = 169): the "
        "older tree, left whole, is taken for a deleted record whose payload is free",
    "root-moved-tree-loose-twice-bound.root":
        "published: 369 bytes of PAYLOAD (over twice the docs' bound of 169) inside the "
        "older TTree uproot moved: taken for a deleted record",
    "root-forged-deleted-record.root":
        "published: a TH1D key naming its own position forged in a zero free gap of a "
        "file where nothing was deleted, its 487-byte payload PAYLOAD: any free gap can "
        "be a 'deleted record' whose payload no reader returns and nothing bounds",
}

_FSSE = ("refused (`a free-space section list nothing refers to`, h5repack): h5py "
         "under its default libver, ")
FALSE_REJECTIONS = {
    **dict.fromkeys(
        ("ctl-del-subdir-same-job.root", "ctl-del-subdir-update.root"),
        "refused (`root: the record at N (TDirectory) is in no directory's keys list`, no "
        "remedy named): uproot's `del f['calib']` of a subdirectory, in the job that made "
        "it or in a later uproot.update (the docs: 'deleting without writing over ... "
        "passes'; deleting a histogram inside it passes)"),
    "ctl-h5-dense-links-reopened-tracked.h5":
        _FSSE + "a track_order=True group given 12 datasets, reopened with 'a' and given "
        "12 more (the docs attribute such refusals to attributes flushed after each addition)",
    "ctl-h5-dense-attrs-reopened-tracked.h5":
        _FSSE + "a track_order=True group given 12 attributes, reopened and given 12 more",
    "ctl-h5-dense-links-attrs-reopened-latest.h5":
        "refused (`a free-space section list nothing refers to`, h5repack): h5py under "
        "libver='latest', a group given 12 datasets and 12 attributes, reopened and given "
        "12 more of each (links alone pass: ctl-h5-dense-links-reopened-latest.h5)",
    **dict.fromkeys(
        ("ctl-h5-shrink-on-chunk-boundary.h5", "ctl-h5-shrink-reopened-on-boundary.h5",
         "ctl-h5-shrink-first-of-two.h5"),
        "refused (`the final key of a chunk B-tree node of /s holds data`, no remedy named): "
        "h5py's resize() of a chunked 1-D dataset (1000 -> 700 or 450, chunks of 100; the "
        "docs: 'a shrunk chunked dataset passes'; 1000 -> 750 passes)"),
    "ctl-h5-shrink-image-reopened.h5":
        "refused (`bytes ... after a chunk of /m are reached from no structure`): a 20x20 "
        "chunked image (5x5 chunks) cropped to 12x13 with resize() in a later session: the "
        "chunks HDF5 pruned stay in the file (the docs: 'a shrunk chunked dataset passes')",
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


CRASHES = {
    "h5-signature-only.h5":
        "refused as 'the validator failed (IndexError)': an HDF5 file cut after its 8-byte "
        "signature crashes the validator instead of 'hdf5: the file ends inside the "
        "superblock' (30 bytes get that reason)",
}


@pytest.mark.parametrize("name", _marked(h5files.MALFORMED_NAMES, CRASHES))
def test_malformed_file_refused_with_its_format_reason(vetted, name):
    entry = vetted["entries"][name]
    assert entry["verdict"] == "rejected"
    assert entry["detail"].startswith("hdf5: "), entry["detail"]


def test_whole_run_exit_code(vetted):
    """Per-file mode: refusals give exit 1; the rest is still published."""
    assert vetted["rc"] == 1
