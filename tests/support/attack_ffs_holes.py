"""The hits of the filesystem attack f (session 33) outside the name tables: what got
out, what was lost or which promise broke, one reason per strict xfail of
test_attack_independent_ffs.py (keyed by the test's name without `test_`)."""

HOLES = {
    "remove_promoted_keeps_a_file_rewritten_through_a_mapping": (
        "--remove-promoted deleted a.txt although the guest rewrote it in place after the copy "
        "(stores through a shared mapping move neither mtime nor ctime on tmpfs): its new bytes were "
        "never published, and no note names it; the docs: 'never its ctime: such a file is kept'"
    ),
    "made_anew_overlayfs": (
        "exit 0 already-promoted, the old quarantine's a.txt reported as this one's: on overlayfs "
        "(generation null, as on tmpfs, but inode numbers are reused) the quarantine removed and made "
        "anew with the old number is taken for the vetted one; its b.txt is never vetted"
    ),
    "made_anew_disk": (
        "exit 0 already-promoted, the first disk's a.txt reported as this one's: a quarantine that "
        "is a job's disk (the docs' 'a disk copied out after the job') mounted at the same path is "
        "(device of the loop, inode 2, generation 0) on every new ext4, so the next disk of the same "
        "job id is taken for the vetted one and its b.txt is never vetted"
    ),
    "made_anew_tmpfs": (
        "exit 0 already-promoted, the first tmpfs's a.txt reported as this one's: a per-job tmpfs "
        "mounted afresh at the quarantine's path has root inode 1, generation null and (the freed "
        "anonymous device number handed on) the same device: the docs' 'null on tmpfs' is no "
        "identity, and b.txt is never vetted"
    ),
}
