"""Reads of the annotation domain, shaped for the pages, APIs and services that need them.

One module per audience: ``ratings`` (rating rows for analysis and exports),
``analysis`` (snapshots, runs, releases), ``research`` (what a researcher may see) and
``subject`` (a subject's session). Selectors return data or raise
``core.errors.NotFound``; they never build HTTP answers and never call services.
"""
