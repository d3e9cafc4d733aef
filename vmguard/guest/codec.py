"""GuestFacts to and from plain JSON data: for the inspection worker's answer and the cache."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from vmguard.guest.model import (
    Account,
    ConfigLine,
    FileInfo,
    FileMark,
    GuestFacts,
    GuestSource,
    ListeningSocket,
    LoggedInUser,
    OnlineFacts,
    Package,
    PasswordState,
    Service,
    ServiceKind,
    SshdConfig,
    SshdSetting,
)


def dump(facts: GuestFacts) -> dict[str, Any]:
    """Plain data (enums become their values through their str base)."""
    return asdict(facts)


def load(data: dict[str, Any]) -> GuestFacts:
    """The inverse of dump; KeyError/TypeError/ValueError on data dump did not make."""
    marks = data["file_marks"]
    return GuestFacts(
        os=str(data["os"]),
        packages=tuple(_package(p) for p in data["packages"]),
        accounts=tuple(_account(a) for a in data["accounts"]),
        sshd=_sshd(data["sshd"]),
        services=tuple(_service(s) for s in data["services"]),
        programs=tuple(str(p) for p in data["programs"]),
        file_marks=None if marks is None else tuple(FileMark(**m) for m in marks),
        file_infos=tuple(FileInfo(**i) for i in data["file_infos"]),
        pam_nullok=tuple(_line(x) for x in data["pam_nullok"]),
        sudo_nopasswd=tuple(_line(x) for x in data["sudo_nopasswd"]),
        trust_files=tuple(str(p) for p in data["trust_files"]),
        online=None if data["online"] is None else _online(data["online"]),
        problems=tuple(str(p) for p in data["problems"]),
        seconds=float(data["seconds"]),
    )


def _src(data: dict[str, Any] | None) -> GuestSource | None:
    return None if data is None else GuestSource(data["where"], data["path"], data["line"])


def _package(p: dict[str, Any]) -> Package:
    return Package(p["name"], p["version"], _src(p["source"]), tuple(p["setid_files"]))


def _line(x: dict[str, Any]) -> ConfigLine:
    return ConfigLine(str(x["text"]), _src(x["source"]))


def _account(a: dict[str, Any]) -> Account:
    fields = {**a, "password": PasswordState(a["password"])}
    for key in ("source", "password_source", "keys_source"):
        fields[key] = _src(a[key])
    return Account(**fields)


def _sshd(s: dict[str, Any]) -> SshdConfig:
    settings = tuple(
        SshdSetting(x["keyword"], x["value"], x["match"], _src(x["source"])) for x in s["settings"]
    )
    return SshdConfig(settings, s["openssh_version"], _src(s["source"]))


def _service(s: dict[str, Any]) -> Service:
    return Service(**{**s, "kind": ServiceKind(s["kind"]), "source": _src(s["source"])})


def _online(o: dict[str, Any]) -> OnlineFacts:
    return OnlineFacts(
        users=tuple(LoggedInUser(u["name"], _src(u["source"])) for u in o["users"]),
        sockets=tuple(ListeningSocket(**{**s, "source": _src(s["source"])}) for s in o["sockets"]),
        problems=tuple(o["problems"]),
    )
