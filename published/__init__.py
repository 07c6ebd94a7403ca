"""Published AIGC quality databases, read from the files their authors publish.

The bottom layer beside ``analysis/`` and ``benchmark/training/``: the training library's
``make-manifest`` and the study site's ``import-external`` both read a database through
:mod:`published.readers`, so the two can never disagree on what its files mean.
Django-free (pandas, scipy, openpyxl); imports no app and nothing from ``benchmark``.
"""
