"""`vmguard vet QUARANTINE --policy P --to PUBLIC/JOB`: vet a job's output and promote it."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vmguard.cli.output import OutputFormat, add_format
from vmguard.core.errors import VetInputError, VmguardError

if TYPE_CHECKING:
    from vmguard.policy.model import Policy

# A vet keeps a few objects per file to its end (walk nodes, entries), so the cycle
# collector's default (a collection per 700 new objects) ran about 330 times in a vet of
# 20,000 files, twice over everything imported: 88 ms of CPU; at 5,000, 66 times and 28 ms
# (the same peak RSS: what waits to be collected is a few thousand objects at most).
GC_THRESHOLD = 5000


def register(sub: argparse._SubParsersAction) -> None:
    vet = sub.add_parser(
        "vet",
        help="vet a job's quarantine directory and promote what passes",
        description="Check every file a job wrote into QUARANTINE against the policy's "
        "quarantine section and publish what passes to --to, all at once.",
    )
    vet.add_argument("quarantine", metavar="QUARANTINE_DIR")
    vet.add_argument("--policy", required=True, metavar="POLICY", help="policy file")
    vet.add_argument(
        "--to",
        metavar="PUBLIC_DIR",
        help="the job's output directory in the public area (must not exist); "
        "default: the policy's quarantine.promote.to",
    )
    vet.add_argument(
        "--job", help="job id for the manifest and log (default: the quarantine directory's name)"
    )
    vet.add_argument("--dry-run", action="store_true", help="check only; publish nothing")
    vet.add_argument(
        "--per-file", action="store_true", help="publish the accepted files even if others are rejected"
    )
    vet.add_argument(
        "--remove-promoted",
        action="store_true",
        help="delete the published files from the quarantine afterwards",
    )
    add_format(vet)
    vet.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vmguard.quarantine import report
    from vmguard.quarantine.api import vet

    policy = _policy(args)
    threshold = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *threshold[1:])
    try:
        result = vet(
            args.quarantine,
            policy,
            args.to,
            job=args.job,
            dry_run=args.dry_run,
            per_file=True if args.per_file else None,
            remove_promoted=args.remove_promoted,
            events=args.events,
        )
    finally:
        gc.set_threshold(*threshold)
    if args.format is OutputFormat.JSON:  # the same JSON as the published JOB.vet.json
        sys.stdout.flush()
        for chunk in report.report_json(result):
            sys.stdout.buffer.write(chunk)
    else:
        sys.stdout.write(report.report_text(result))
    if result.not_removed:  # exit 3: one line on stderr, the files and reasons in the report
        print(
            f"vmguard: --remove-promoted left {len(result.not_removed)} published file(s) "
            "in the quarantine (the report's notes say which and why)",
            file=sys.stderr,
        )
    if result.staging_left:  # exit 3: published, its staging left behind (the note says how to clean it)
        print(f"vmguard: {next(n for n in result.notes if result.staging_left in n)}", file=sys.stderr)
    if result.log_error:  # exit 3: done as the report says, but not in the event log
        print(f"vmguard: {result.notes[-1]}", file=sys.stderr)
    return result.exit_code


def _policy(args: argparse.Namespace) -> Policy:
    """The policy, or its error logged as the vet's `failed` event (as vet() logs its own)."""
    from vmguard.policy.loader import load_policy
    from vmguard.quarantine.api import failed

    try:
        policy = load_policy(args.policy)
        if "spec.quarantine" not in policy.origins:
            raise VetInputError(f"{args.policy}: the policy has no quarantine section (spec.quarantine)")
    except VmguardError as err:
        failed(args.events, args.job, Path(args.quarantine), err)
    return policy
