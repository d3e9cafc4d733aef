"""A batch job as every runner (Slurm, LSF, a Python caller) describes it to root's hooks."""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass
from pathlib import Path

from vmguard.core.errors import InputError

# Values end up in paths that root reads and writes: only plain names, never "/" or
# "..", may reach a path.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}$")


@dataclass(frozen=True)
class BatchJob:
    runner: str  # "slurm", "lsf", or what a Python caller names itself
    id: str
    user: str
    uid: int
    gid: int
    name: str = ""  # the user's choice: shown, never used to find a VM or a path
    queue: str = ""  # Slurm partition, LSF queue (admin-defined)
    account: str = ""  # Slurm account, LSF project
    requests: tuple[str, ...] = ()  # pools the job asked for (Slurm licenses/features)
    comment: str = ""
    host: str = ""
    output_dir: str = ""  # where the job's output file is: the verdict goes beside it
    error_file: str = ""  # the job's error output: a refusal is written there
    exit_status: str = ""

    @property
    def key(self) -> str:
        """Unique name of this job across runners: "slurm-42"."""
        return f"{self.runner}-{self.id}"

    def expand(self, template: str, **extra: str) -> str:
        """`template` with {job} {user} {queue} {host} and `extra` ({vm}, {pool}) filled in.

        A field the template uses must be a plain name, or InputError is raised.
        """
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        values = {name: extra[name] if name in extra else self.field(name) for name in used}
        for name, value in values.items():
            if not SAFE_NAME.match(value):
                raise InputError(
                    f"job {self.key}: field {{{name}}} is {value!r}, not a plain "
                    "name (letters, digits, . _ + @ -): it cannot name a path"
                )
        return template.format_map(values)

    def field(self, name: str) -> str:
        return self.id if name == "job" else str(getattr(self, name))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BatchJob:
        return cls(**{**data, "requests": tuple(data.get("requests", ()))})

    @property
    def output_path(self) -> Path | None:
        return Path(self.output_dir) if self.output_dir else None
