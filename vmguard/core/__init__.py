"""Shared foundations: errors, findings, the YAML reader, schema checks, event log, display."""
