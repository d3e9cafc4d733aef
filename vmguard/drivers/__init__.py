"""Hypervisor drivers: read VM facts, apply plans. Start from `open_driver`."""

from vmguard.drivers.interface import ApplyResult, Driver, facts_of
from vmguard.drivers.registry import open_driver

__all__ = ["ApplyResult", "Driver", "facts_of", "open_driver"]
