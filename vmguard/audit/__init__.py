"""Continuous audit: rule catalog, checks, engine, drift, reports.

Data flow: catalog (rules/*.yaml) + checks (pure functions of policy and facts) ->
engine (drivers, unmanaged VMs, waivers, host firewall) -> history (drift, trend) ->
reports (JSON, Markdown, HTML) in a locked, retained report folder. Entry point for
callers: vmguard.audit.run.run_audit().
"""
