"""Hypervisor drivers: read VM facts, apply plans. Start from `open_driver`."""

from vmguard.drivers.interface import ApplyResult, Driver, open_driver

__all__ = ["ApplyResult", "Driver", "open_driver"]
