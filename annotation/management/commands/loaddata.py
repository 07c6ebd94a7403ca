"""Django's loaddata, then the rating tallies recounted in the same transaction.

Ratings loaded from a fixture fire the tally triggers, and a `dumpdata` fixture also holds
the tallies it was dumped with: left alone they would count twice. Session-hour rows are
derived from the ratings only, so they are skipped (the triggers rebuild them; loaded as
well, they would collide with those rows). Stimulus and session tallies are then set to a
recount of what is stored (annotation.services.tallies).
"""

from django.core.management.commands import loaddata

from annotation.models import Rating, RatingSession, Stimulus
from annotation.services.tallies import tallies_repair

DERIVED = "annotation.SessionHourTally"


class Command(loaddata.Command):
    help = (
        f"{loaddata.Command.help} Rating tallies are recounted afterwards; {DERIVED} rows in "
        "a fixture are skipped (rebuilt from the ratings)."
    )

    def handle(self, *fixture_labels, **options) -> None:
        options["exclude"] = [*options.get("exclude", []), DERIVED]
        super().handle(*fixture_labels, **options)

    def loaddata(self, fixture_labels) -> None:
        super().loaddata(fixture_labels)
        tallied = {Rating, RatingSession, Stimulus}
        if getattr(self, "loaded_object_count", 0) and tallied & getattr(self, "models", set()):
            report = tallies_repair(using=self.using)
            if report.repaired and self.verbosity >= 1:
                self.stdout.write(report.summary())
