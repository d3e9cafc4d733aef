"""Inside the guest: users, logins, software and services, read without trusting it.

`inspect(facts, online=...)` (vmguard.guest.inspection) is what the audit calls.
"""

from vmguard.guest.inspection import inspect, uninspectable

__all__ = ["inspect", "uninspectable"]
