"""Host paths of shared folders, as the host will resolve them."""

from __future__ import annotations

import os


def real_path(path: str) -> str:
    """The host path with symlinks resolved; Windows or relative paths are kept as is
    (a .vbox file from a Windows host names E:\\..., which means nothing here)."""
    return os.path.realpath(path) if os.path.isabs(path) else path
