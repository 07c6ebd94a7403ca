"""Errors a run reports before training, importable without torch or pandas."""

from __future__ import annotations


class TrainingInputError(ValueError):
    """Base of the errors that mean 'fix your inputs', not 'bug in the library'."""


class ManifestError(TrainingInputError):
    """The manifest cannot be used as given; the message names the rows."""


class SplitError(TrainingInputError):
    """A split cannot be built from this manifest and configuration."""


class WeightsError(TrainingInputError):
    """Weights are missing, fail their checksum, or do not fit the model."""
