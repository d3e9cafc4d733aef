"""The manifest and the vetting report: JSON for machines, a short summary for people.

Both are JSON (ensure_ascii) or escaped text, so no file name can forge a line or a
field: entry paths are already in display.shown() form (accepted names cannot contain
anything shown() would escape); the text report shows every other field through it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence

from vmguard.core.display import shown
from vmguard.quarantine.model import Entry, Status, Verdict, VetResult

MANIFEST_VERSION = 1
# The vet report's `schema` key (JOB.vet.json, `vet --format json`); its schema ships as
# vmguard/cli/schema/vet-v1.json. Additive changes keep v1.
VET_SCHEMA = "vmguard/vet/v1"
TEXT_LIMIT = 50  # rejected entries listed in the text summary; the JSON has them all
BATCH = 1000  # entries encoded at a time


def _json(data: object) -> bytes:
    # No indent: only then does json use its C encoder (20,000 entries in milliseconds).
    return json.dumps(data, sort_keys=True, ensure_ascii=True).encode()


def _with_entries(
    doc: dict[str, object], entries: Sequence[Entry], walked: Iterable[tuple] | None = None
) -> Iterator[bytes]:
    """`doc` plus its "entries" (and the manifest's "walked" rows), as _json would write
    them, a batch at a time: 100,000 entries never exist as dicts, or as one string, all
    at once, and the walked rows are made a batch at a time too (Walk.stamps). A marker
    such as `"entries": []` can only be a key: in a JSON string its quotes are escaped."""
    lists = {"entries": (entries, Entry.to_dict)}
    if walked is not None:
        lists["walked"] = (walked, list)
    text = _json({**doc, **{key: [] for key in lists}})
    for key in sorted(lists):
        items, encode = lists[key]
        head, text = text.split(f'"{key}": []'.encode(), 1)
        yield head + f'"{key}": ['.encode()
        rest, sep = iter(items), b""
        while batch := list(itertools.islice(rest, BATCH)):
            yield sep + _json([encode(item) for item in batch])[1:-1]
            sep = b", "
        text = b"]" + text
    yield text + b"\n"


def manifest(
    result: VetResult, policy_source: str, vetted: dict[str, object], walked: Iterable[tuple]
) -> Iterator[bytes]:
    """The manifest; `vetted`: how (the quarantine directory read, --remove-promoted);
    `walked`: every entry the walk saw (Walk.stamps)."""
    doc = {
        **vetted,
        "version": MANIFEST_VERSION,
        "job": result.job,
        "quarantine": result.quarantine,
        "output": result.output,
        "policy": policy_source,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return _with_entries(doc, result.entries, walked)


def report_json(result: VetResult) -> Iterator[bytes]:
    return _with_entries({"schema": VET_SCHEMA, **result.summary()}, result.entries)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _rejected_line(entry: Entry) -> str:
    reasons = ", ".join(r.value for r in entry.reasons)
    detail = f" ({shown(entry.detail)})" if entry.detail else ""
    return f"  {entry.path}: {reasons}{detail}"


def report_text(result: VetResult) -> str:
    files = [e for e in result.accepted if e.size is not None]
    size = sum(e.size for e in files)
    where = {
        Status.PROMOTED: f"promoted to {shown(result.output)}",
        Status.PARTIAL: f"accepted part promoted to {shown(result.output)}",
        Status.REJECTED: "nothing promoted",
        Status.DRY_RUN: "dry run, nothing promoted",
        Status.ALREADY_PROMOTED: f"already promoted to {shown(result.output)}",
    }[result.status]
    lines = [
        f"vmguard vet: job {shown(result.job)}: {where}",
        f"accepted: {len(files)} files, {_size(size)}; rejected: {len(result.rejected)}",
    ]
    lines += [f"note: {n}" for n in result.notes]
    rejected = result.rejected
    if rejected:
        lines.append("rejected:")
        lines += [_rejected_line(e) for e in rejected[:TEXT_LIMIT]]
        if len(rejected) > TEXT_LIMIT:
            lines.append(f"  ... and {len(rejected) - TEXT_LIMIT} more (see the JSON report)")
    skipped = [e for e in result.entries if e.verdict is Verdict.SKIPPED]
    if skipped:
        lines.append(f"skipped (never published): {len(skipped)}")
    return "\n".join(lines) + "\n"
