"""manage.py restore SRC: a backup into an empty database and MEDIA_ROOT, then verified
(docs/operations.md, "Backups")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from ops.services.manifest import BackupError
from ops.services.restore import restore_from


class Command(BaseCommand):
    help = (
        "Restore a backup (folder or .tar) into an empty database and MEDIA_ROOT, then verify "
        "every file's sha256, the rows per table, release and package sha256s and the "
        "rating tallies (repaired if they differ)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("src", type=Path, help="a backup folder or .tar")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace a database and MEDIA_ROOT that are not empty (their contents are lost)",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, **options) -> None:
        try:
            report = restore_from(options["src"], using=options["database"], force=options["force"])
        except BackupError as error:
            raise CommandError(str(error)) from None
        for line in report.lines:
            self.stdout.write(line)
