"""`extends`: merge a role policy onto its base.

Rules (also in the README):
- mappings merge key by key, recursively; the role's value wins;
- lists of things *forbidden* (shared_folders.forbid_host_paths, software.forbid,
  quarantine.forbid) and waivers are the union of base and role: a role can add a
  prohibition but never silently drop one of the base's;
- every other list (egress, ingress, shares, logins, allowed types...) is replaced
  whole by the role's: a role states exactly what it allows;
- `extends` paths are relative to the file that names them; cycles are errors.
Source positions travel with the values, so errors point into the file that set them.
"""

from __future__ import annotations

from typing import Any

from vmguard.core.yamlsource import Document, Path_

UNION_LISTS: frozenset[Path_] = frozenset(
    {
        ("spec", "shared_folders", "forbid_host_paths"),
        ("spec", "software", "forbid"),
        ("spec", "quarantine", "forbid"),
        ("spec", "waivers"),
    }
)


def _copy_positions(src: Document, src_path: Path_, out: Document, dst_path: Path_) -> None:
    n = len(src_path)
    for table, dst in ((src.values, out.values), (src.keys, out.keys)):
        for path, pos in table.items():
            if path[:n] == src_path:
                dst[dst_path + path[n:]] = pos


class _Merger:
    def __init__(self, base: Document, role: Document) -> None:
        self.base, self.role = base, role
        self.out = Document(role.file, None)

    def merge(self, b: Any, r: Any, path: Path_) -> Any:
        if isinstance(b, dict) and isinstance(r, dict):
            return self._mapping(b, r, path)
        if path in UNION_LISTS and isinstance(b, list) and isinstance(r, list):
            return self._union(b, r, path)
        _copy_positions(self.role, path, self.out, path)
        return r

    def _mapping(self, b: dict[str, Any], r: dict[str, Any], path: Path_) -> dict[str, Any]:
        self.out.values[path] = self.role.values.get(path) or self.base.values[path]
        merged: dict[str, Any] = {}
        for key in [*b, *(k for k in r if k not in b)]:
            sub = (*path, key)
            if key in r:
                self.out.keys[sub] = self.role.keys[sub]
                merged[key] = self.merge(b[key], r[key], sub) if key in b else r[key]
                if key not in b:
                    _copy_positions(self.role, sub, self.out, sub)
            else:
                merged[key] = b[key]
                _copy_positions(self.base, sub, self.out, sub)
        return merged

    def _union(self, b: list[Any], r: list[Any], path: Path_) -> list[Any]:
        self.out.values[path] = self.role.values[path]
        merged = list(b)
        for i in range(len(b)):
            _copy_positions(self.base, (*path, i), self.out, (*path, i))
        for j, item in enumerate(r):
            if item not in merged:
                _copy_positions(self.role, (*path, j), self.out, (*path, len(merged)))
                merged.append(item)
        return merged


def merge(base: Document, role: Document) -> Document:
    """The role document laid over its base; `extends` itself is dropped."""
    merger = _Merger(base, role)
    merger.out.data = merger.merge(base.data, role.data, ())
    merger.out.data.pop("extends", None)
    return merger.out
