"""Probe targets, runs and results: the probe engine (issue 3) builds here."""
