"""A finished batch job as every runner (Slurm, LSF, a Python caller) describes it."""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass
from pathlib import Path

from vmguard.errors import InputError

# Job fields come from the job's owner (job name, comment), and they end up in paths
# that root reads and writes: only plain names, never "/" or "..", may reach a path.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]{0,127}$")


@dataclass(frozen=True)
class BatchJob:
    runner: str  # "slurm", "lsf", or what a Python caller names itself
    id: str
    user: str
    uid: int
    gid: int
    name: str = ""
    queue: str = ""  # Slurm partition, LSF queue
    comment: str = ""
    host: str = ""
    output_dir: str = ""  # where the job's output file is: the verdict goes beside it
    exit_status: str = ""

    @property
    def key(self) -> str:
        """Unique name of this job across runners: "slurm-42"."""
        return f"{self.runner}-{self.id}"

    def expand(self, template: str) -> str:
        """`template` with {job} {user} {name} {queue} {comment} {host} filled in.

        A field the template uses must be a plain name, or InputError is raised.
        """
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        values = {name: self.field(name) for name in used}
        for name, value in values.items():
            if not SAFE_NAME.match(value):
                raise InputError(
                    f"job {self.key}: field {{{name}}} is {value!r}, not a plain "
                    "name (letters, digits, . _ + @ -): it cannot name a VM or path"
                )
        return template.format_map(values)

    def field(self, name: str) -> str:
        return self.id if name == "job" else str(getattr(self, name))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BatchJob:
        return cls(**data)

    @property
    def output_path(self) -> Path | None:
        return Path(self.output_dir) if self.output_dir else None
