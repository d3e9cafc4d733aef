"""Content scanners for vet, one module per engine (clamd, yara, command), chosen in the
policy's `quarantine.scanners`. The interface is in interface.py; `Scanners` opens the
configured engines for one vet and hands each file's descriptor to all of them."""

from __future__ import annotations

from concurrent.futures import Future

from vmguard.policy.model import ClamdScanner, CommandScanner, Scanners, YaraScanner
from vmguard.quarantine.scanners.interface import Engine, Hit, ScanError, ScanResult

__all__ = ["Engine", "Hit", "ScanError", "ScanResult", "open_engine", "ScannerSet"]


def open_engine(config: ClamdScanner | YaraScanner | CommandScanner) -> Engine:
    """The engine for one configured scanner (imported on use: each has its own needs)."""
    if isinstance(config, ClamdScanner):
        from vmguard.quarantine.scanners.clamd import Clamd

        return Clamd(config)
    if isinstance(config, YaraScanner):
        from vmguard.quarantine.scanners.yara import Yara

        return Yara(config)
    from vmguard.quarantine.scanners.command import Command

    return Command(config)


class ScannerSet:
    """The engines of one vet, opened together (an engine that cannot start stops the
    vet before anything is staged) and closed together."""

    def __init__(self, scanners: Scanners) -> None:
        self.engines: list[Engine] = []
        try:
            for config in scanners.configured():
                self.engines.append(open_engine(config))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ScannerSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __bool__(self) -> bool:
        return bool(self.engines)

    def submit(self, fd: int) -> tuple[Future[ScanResult], ...]:
        return tuple(engine.submit(fd) for engine in self.engines)

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
