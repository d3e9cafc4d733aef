"""Turning findings into changes: the plan, and applying it."""
