"""CLI of the batch and fleet area: `vmguard batch ...` and `vmguard report merge`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vmguard.display import shown


def _config(args: argparse.Namespace) -> Path | None:
    return Path(args.config) if args.config else None


def _slurm_epilog(args: argparse.Namespace) -> int:
    from vmguard.batch.slurm import epilog

    return epilog(_config(args))


def _lsf_post_exec(args: argparse.Namespace) -> int:
    from vmguard.batch.lsf import post_exec

    return post_exec(_config(args))


def _revet(args: argparse.Namespace) -> int:
    from vmguard.batch.config import load_batch_config
    from vmguard.batch.hook import exit_code, revet

    verdict = revet(args.job, load_batch_config(_config(args)))
    print(verdict.text(), end="")
    return exit_code(verdict)


def _pending(args: argparse.Namespace) -> int:
    from vmguard.batch.config import load_batch_config
    from vmguard.batch.hook import pending

    for verdict in pending(load_batch_config(_config(args))):
        fields = (shown(verdict.job.key), shown(verdict.vm or "-"), verdict.summary(), shown(verdict.rerun))
        print("\t".join(fields))  # summary() shows its message itself
    return 0


def _merge(args: argparse.Namespace) -> int:
    from vmguard.fleet.merge import exit_code, load_host_reports, merge
    from vmguard.fleet.report import write_fleet_report

    fleet = merge(load_host_reports([Path(f) for f in args.files]))
    for path in write_fleet_report(fleet, Path(args.out), args.format):
        print(shown(path))
    return exit_code(fleet, args.fail_on)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="batch settings (default $VMGUARD_BATCH_CONFIG or /etc/vmguard/batch.yaml)",
    )


def _register_batch(sub: argparse._SubParsersAction) -> None:
    batch = sub.add_parser("batch", help="vet job output from Slurm, LSF or any job runner")
    cmds = batch.add_subparsers(dest="batch_command", metavar="COMMAND")
    for name, func, text in (
        ("slurm-epilog", _slurm_epilog, "slurm.conf Epilog: vet the ending job (always exit 0)"),
        ("lsf-post-exec", _lsf_post_exec, "LSF POST_EXEC: vet the ended job (always exit 0)"),
        ("pending", _pending, "list jobs whose output was rejected or not vetted"),
    ):
        _add_config(cmds.add_parser(name, help=text))
        cmds.choices[name].set_defaults(func=func)
    revet_cmd = cmds.add_parser("revet", help="vet a job's quarantine again after a fix")
    revet_cmd.add_argument("job", help="job key as recorded, e.g. slurm-42 or lsf-1234")
    _add_config(revet_cmd)
    revet_cmd.set_defaults(func=_revet)


def _register_report(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="work with audit reports")
    cmds = report.add_subparsers(dest="report_command", metavar="COMMAND")
    merge = cmds.add_parser("merge", help="merge many hosts' audit JSON into a fleet report")
    merge.add_argument("files", nargs="+", metavar="FILE", help="audit JSON, one per host")
    merge.add_argument("--out", required=True, metavar="DIR", help="where to write the report")
    merge.add_argument(
        "--format",
        action="append",
        choices=("json", "html", "markdown"),
        help="repeatable; default all three",
    )
    merge.add_argument(
        "--fail-on",
        default="high",
        choices=("critical", "high", "medium", "low", "info", "never"),
        help="exit 1 when a finding is at least this severe (default high)",
    )
    merge.set_defaults(func=_merge)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands."""
    _register_batch(sub)
    _register_report(sub)
