"""Errors that services raise with a message meant for the person who caused them."""

from django.core.exceptions import ValidationError


class ScoreOutOfRange(ValidationError):
    pass


class RatingConflict(ValidationError):
    """A different score was already stored for this trial and dimension."""


class SessionRejected(Exception):
    """A request the session cannot take; `message` is shown to the subject as is."""

    def __init__(self, message: str, *, code: str, **details) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details
