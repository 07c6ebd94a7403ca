"""Errors that services raise with a message meant for the person who caused them."""

from django.core.exceptions import ValidationError


class ScoreOutOfRange(ValidationError):
    pass


class RatingConflict(ValidationError):
    """A different score was already stored for this trial and dimension."""
