from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with an import; row counts data rows from 1 (0 = the file itself)."""

    row: int
    image: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        name = f" ({self.image})" if self.image else ""
        return f"{where}{name}: {self.message}"


class ImportRejected(ValidationError):
    """An import failed validation; `problems` lists every problem found."""

    def __init__(self, problems: list[ImportProblem]):
        self.problems = list(problems)
        super().__init__([str(p) for p in self.problems] or ["The import was rejected."])

    @property
    def report(self) -> list[dict]:
        return [p.as_dict() for p in self.problems]
