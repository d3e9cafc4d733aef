"""CLI of the batch and fleet area: `vmguard batch ...` and `vmguard report merge`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from vmguard.cli.output import OutputFormat, add_fail_on, add_format, enum_option, print_document
from vmguard.core.display import shown


def _config(args: argparse.Namespace) -> Path | None:
    return Path(args.config) if args.config else None


def _hook(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from importlib import import_module

        return getattr(import_module(f"vmguard.batch.{module}"), func)(_config(args))

    return run


def _revet(args: argparse.Namespace) -> int:
    from vmguard.batch.config import load_batch_config
    from vmguard.batch.records import exit_code, revet

    verdict = revet(args.job, load_batch_config(_config(args)), args.events)
    if args.format is OutputFormat.JSON:
        print_document("batch-verdict", {**verdict.to_dict(), "exit_code": int(exit_code(verdict))})
    else:
        print(verdict.text(), end="")
    return exit_code(verdict)


def _pending(args: argparse.Namespace) -> int:
    import datetime as dt

    from vmguard.batch.config import load_batch_config
    from vmguard.batch.records import held_until, pending, prune

    config = load_batch_config(_config(args))
    expired, held = prune(config), pending(config)
    if args.format is OutputFormat.JSON:
        rows = [{**v.to_dict(), "held_until": held_until(v, config)} for v in held]
        print_document("batch-pending", {"expired": [v.to_dict() for v in expired], "pending": rows})
        return 0
    for verdict in expired:
        print(f"{shown(verdict.job.key)}\t{shown(verdict.vm or '-')}\texpired: held output deleted")
    for verdict in held:
        until = dt.datetime.fromtimestamp(held_until(verdict, config), dt.UTC).strftime("%Y-%m-%d")
        print(
            f"{shown(verdict.job.key)}\t{shown(verdict.vm or '-')}\t{verdict.summary()}\t"
            f"held in {shown(verdict.quarantine or '-')} until {until}\t{shown(verdict.rerun)}"
        )
    return 0


def _vm(args: argparse.Namespace) -> int:
    import os

    from vmguard.batch.config import load_batch_config
    from vmguard.batch.state import State
    from vmguard.core.errors import VetInputError

    key = args.job or (
        f"slurm-{os.environ['SLURM_JOB_ID']}"
        if os.environ.get("SLURM_JOB_ID")
        else f"lsf-{os.environ.get('LSB_JOBID', '')}"
    )
    note = State(load_batch_config(_config(args)).state_dir).assigned_note(key)
    if not note:
        raise VetInputError(f"no VM is assigned to job {key}")
    fields = note.rstrip("\n").split("\t")
    if args.format is OutputFormat.JSON:
        vm, quarantine = (fields + [""])[:2]
        print_document("batch-vm", {"job": key, "vm": vm, "quarantine": quarantine or None, "exit_code": 0})
        return 0
    print("\t".join(shown(field) for field in fields))
    return 0


def _install(args: argparse.Namespace) -> int:
    from vmguard.batch.config import default_path
    from vmguard.batch.install import install_hooks

    directory = Path(args.dir) if args.dir else None
    done = install_hooks(Path(args.config) if args.config else default_path(), directory, args.output)
    if args.format is OutputFormat.JSON:
        scripts = [{"name": name, "path": str(path)} for name, path in done.scripts]
        fields = {"directory": str(done.directory), "config": str(done.config), "output": done.output}
        print_document(
            "batch-install-hooks", {**fields, "python": done.python, "scripts": scripts, "exit_code": 0}
        )
        return 0
    for _name, path in done.scripts:
        print(shown(str(path)))
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
    batch = sub.add_parser("batch", help="give batch jobs their VMs and vet their output (Slurm, LSF)")
    cmds = batch.add_subparsers(dest="batch_command", metavar="COMMAND")
    for name, func, text in (
        ("slurm-prolog", _hook("slurm", "prolog"), "slurm.conf Prolog: assign the job its VM (exit 0)"),
        ("slurm-epilog", _hook("slurm", "epilog"), "slurm.conf Epilog: vet the ending job (exit 0)"),
        ("lsf-pre-exec", _hook("lsf", "pre_exec"), "LSF PRE_EXEC: assign the job its VM (1: refused)"),
        ("lsf-post-exec", _hook("lsf", "post_exec"), "LSF POST_EXEC: vet the ended job (exit 0)"),
        ("pending", _pending, "list jobs whose output is held (rejected or not vetted)"),
    ):
        _add_config(cmds.add_parser(name, help=text))
        cmds.choices[name].set_defaults(func=func)
    add_format(cmds.choices["pending"])
    revet_cmd = cmds.add_parser("revet", help="vet a job's held output again after a fix")
    revet_cmd.add_argument("job", help="job key as recorded, e.g. slurm-42 or lsf-1234")
    add_format(revet_cmd)
    _add_config(revet_cmd)
    revet_cmd.set_defaults(func=_revet)
    vm_cmd = cmds.add_parser("vm", help="inside a job: its VM and quarantine (tab-separated)")
    vm_cmd.add_argument("--job", help="job key (default: from SLURM_JOB_ID or LSB_JOBID)")
    _add_config(vm_cmd)
    add_format(vm_cmd)
    vm_cmd.set_defaults(func=_vm)
    install = cmds.add_parser("install-hooks", help="write the hook scripts slurm.conf/lsb.queues name")
    install.add_argument("--dir", help="where (default <prefix>/libexec/vmguard)")
    install.add_argument("--output", default="/dev/null", help="file the hooks append their messages to")
    _add_config(install)
    add_format(install)
    install.set_defaults(func=_install)


def _register_report(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="work with audit reports")
    cmds = report.add_subparsers(dest="report_command", metavar="COMMAND")
    merge = cmds.add_parser("merge", help="merge many hosts' audit JSON into a fleet report")
    merge.add_argument("files", nargs="+", metavar="FILE", help="audit JSON, one per host")
    merge.add_argument("--out", required=True, metavar="DIR", help="where to write the report")
    fleet_formats = (OutputFormat.JSON, OutputFormat.HTML, OutputFormat.MARKDOWN)
    merge.add_argument(
        "--format",
        action="append",
        **enum_option(OutputFormat, fleet_formats),
        help="report file to write; repeatable (default: all three)",
    )
    add_fail_on(merge)
    merge.set_defaults(func=_merge)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands."""
    _register_batch(sub)
    _register_report(sub)
