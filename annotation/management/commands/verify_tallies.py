"""Recount the rating tallies from the ratings; report drift, and with --repair fix it.

manage.py verify_tallies            # exit status 1 when a tally differs from its recount
manage.py verify_tallies --repair   # set every differing tally to its recount
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from annotation.services.tallies import tallies_repair, tallies_verify


class Command(BaseCommand):
    help = (
        "Recount Stimulus.rating_tally, RatingSession.rating_tally/rating_last_id and the "
        "session-hour tallies from the ratings; report any that differ (--repair: fix them)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--repair", action="store_true", help="set every differing tally to its recount"
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, **options) -> None:
        using = options["database"]
        report = (tallies_repair if options["repair"] else tallies_verify)(using=using)
        for example in report.examples:
            self.stdout.write(f"  {example}")
        if not report.ok and not report.repaired:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
