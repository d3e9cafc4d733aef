"""The hits of the filesystem attack f (session 33) outside the name tables: what got
out, what was lost or which promise broke, one reason per strict xfail of
test_attack_independent_ffs.py (keyed by the test's name without `test_`)."""

HOLES = {
    "torn_last_line_of_the_event_log": (
        "vmguard's own append on a full log disk leaves a torn line (the page's last 3770 bytes of "
        "a long event, no newline; that vet said exit 3, true); the next vet exits 0 but appends "
        "its event to the torn line: no JSON, its decision missing from the record, and "
        "`log verify` reports 'not a vmguard log event' and 'edited'"
    ),
    "full_log_disk_at_the_head_record": (
        "the log's disk full at the vet's append: the event line IS written (the page had room) but "
        "its events.jsonl.head is not, so the vet exits 3 saying the event 'is missing from the log' "
        "(it is there) and leaves events.jsonl.tmp; once space is back, the next vet chains to it and "
        "`vmguard log verify` reports the untouched line as 'edited' (exit 1) for good"
    ),
    "bind_mount_of_a_quarantine_directory": (
        "exit 1, not 2: --to under a bind mount of q/out (a directory the guest made in "
        "its quarantine) is taken; the lock and staging are made in the quarantine, the "
        "staging is vetted as q's own entry (out/.vmguard-staging: name-dotfile) and, with "
        "--per-file, the output and its sidecars are published into q/out, the guest's to rewrite"
    ),
}
