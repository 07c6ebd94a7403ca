"""What a reader reports when a folder does not hold a database as published.

Importable without pandas, so a command line can catch :class:`LayoutError` before it
loads a reader.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayoutProblem:
    row: int  # data rows count from 1; 0 = the file or folder itself
    image: str
    message: str


class LayoutError(ValueError):
    """The folder does not hold the database as published; ``problems`` lists why.

    Like the training library's input errors, it means 'fix your inputs': ``make-manifest``
    reports it without a traceback."""

    def __init__(self, problems: list[LayoutProblem]):
        self.problems = list(problems)
        shown = "; ".join(
            (f"row {p.row} ({p.image}): " if p.row else "") + p.message for p in self.problems[:10]
        )
        more = f" and {len(self.problems) - 10} more" if len(self.problems) > 10 else ""
        super().__init__(shown + more)
