"""manage.py backup DEST: the database and MEDIA_ROOT into a new folder (or DEST.tar),
with a manifest of every file's sha256 (docs/operations.md, "Backups")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from ops.services.backup import backup_write
from ops.services.manifest import BackupError


class Command(BaseCommand):
    help = (
        "Write a consistent backup of the database (pg_dump, or SQLite's online backup) and "
        "MEDIA_ROOT into DEST (a new folder, or a .tar), with manifest.json."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("dest", type=Path, help="a new folder, or a path ending in .tar")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, **options) -> None:
        try:
            result = backup_write(options["dest"], using=options["database"])
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(result.summary())
