"""Researcher jobs from the command line: create, import, import-external, invite, open, close.

manage.py study create --name "My study" --owner alice --target 15
manage.py study import my-study --manifest set/manifest.csv --images set/images.zip
manage.py study import-external --layout agiqa3k --source ../shared/data/agiqa3k-sample --name "AGIQA-3K sample"
manage.py study invite my-study --count 20 --base-url https://rate.example.org > invites.csv
manage.py study open my-study
manage.py study analyse my-study --screening bt500,correlation
manage.py study freeze my-study --screening bt500 --by alice
manage.py study freeze my-pairs --method bradley_terry --bt-alpha 0.1   (a pairwise study)
manage.py study releases my-study
manage.py study export my-study --release 2 --what mos --out labels.csv
manage.py study export my-pairs --what choices --out choices.csv   (scores | choices | sidecar)
manage.py study export my-study --live --out ratings-now.csv
manage.py study package my-study --release 2 --licence "CC BY 4.0" --out my-study-v2.zip
manage.py study payments my-study --out payments.csv
manage.py study release-idle my-study
"""

import argparse
import contextlib
import hashlib
import json
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotation.dimensions import DimensionSpec
from annotation.imports.errors import ImportRejected
from annotation.imports.external import LAYOUTS, layouts_listed
from annotation.models import AnalysisRun, ImportJob, LabelRelease, Study
from annotation.selectors.research import invite_path, study_progress
from annotation.services.analysis_options import (
    OptionSpec,
    option_specs,
    pairwise_option_specs,
    study_is_pairwise,
)
from annotation.services.analysis_runs import analysis_run_request
from annotation.services.imports import external_import, import_job_create, stimuli_import
from annotation.services.invites import invites_create, invites_csv
from annotation.services.pair_exports import choices_csv_stream
from annotation.services.payments import payment_csv
from annotation.services.quality import sessions_past_max_duration_end
from annotation.services.recruitment import idle_sessions_release
from annotation.services.release_formats import (
    ratings_csv_stream,
    release_file_labels,
    release_is_pairwise,
)
from annotation.services.release_package import release_package_request
from annotation.services.releases import (
    release_download_open,
    release_freeze,
)
from annotation.services.studies import (
    PKU_I2IQA_DIMENSIONS,
    study_create,
    study_set_status,
)
from annotation.services.traps import trap_stimuli_create


def _dimensions(text: str) -> tuple[DimensionSpec, ...]:
    """'pku' or 'key:Label:Question?;key2:Label2:Question2?'."""
    if text == "pku":
        return PKU_I2IQA_DIMENSIONS
    specs = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        parts = item.split(":", 3)
        if len(parts) < 3:
            raise CommandError(f"Dimension {item!r}: write key:Label:Question[:anchor text].")
        specs.append(DimensionSpec(*parts))
    return tuple(specs)


def _layouts_help() -> str:
    return "\n".join(f"  {item['key']}: {item['expects']}" for item in layouts_listed())


def _progress_printer(stream):
    """Live progress on stderr: a line per tenth of each phase, so logs stay short."""
    shown: dict[str, int] = {}

    def report(phase: str, done: float, total: float) -> None:
        tenth = int(10 * done / total) if total else 10
        if shown.get(phase, -1) < tenth:
            shown[phase] = tenth
            stream.write(f"{phase}: {int(done)}/{int(total)}")

    return report


def _create_arguments(sub) -> None:
    """``study create``: a draft study and its design."""
    create = sub.add_parser("create", help="Create a draft study.")
    create.add_argument("--name", required=True)
    create.add_argument("--slug", default="")
    create.add_argument("--owner", default="", help="Username of the researcher.")
    create.add_argument("--dimensions", default="pku", help="'pku' or key:Label:Question;...")
    create.add_argument(
        "--scale-type", default=Study.ScaleType.CONTINUOUS, choices=Study.ScaleType.values
    )
    create.add_argument("--scale-min", type=float, default=0)
    create.add_argument("--scale-max", type=float, default=100)
    create.add_argument("--scale-step", type=float, default=0)
    create.add_argument("--target", type=int, default=15, help="Ratings per stimulus.")
    create.add_argument("--session-size", type=int, default=100)
    create.add_argument("--break-interval", type=int, default=50)
    create.add_argument("--repeats", type=int, default=0)


def _import_arguments(sub) -> None:
    """``study import``: a manifest CSV and its images."""
    imp = sub.add_parser("import", help="Import a manifest CSV and its images (folder or zip).")
    imp.add_argument("slug")
    imp.add_argument("--manifest", type=Path, required=True)
    imp.add_argument(
        "--images",
        type=Path,
        default=None,
        help="Folder or zip; default: the manifest's folder.",
    )
    imp.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="Import byte-identical images as separate stimuli sharing one stored file "
        "(default: refuse them).",
    )
    imp.add_argument("--async", dest="run_async", action="store_true", help="Queue a Celery job.")


def _import_external_arguments(sub) -> None:
    """``study import-external``: a published database."""
    ext = sub.add_parser(
        "import-external",
        help="Import a published database as a new study.",
        description="Import a published database, read from the files its authors "
        "publish, as a new closed study with an external label release.",
        epilog="Layouts:\n" + _layouts_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ext.add_argument("--layout", required=True, choices=sorted(LAYOUTS))
    ext.add_argument(
        "--source", type=Path, required=True, help="The database folder, as published."
    )
    ext.add_argument("--name", required=True)
    ext.add_argument("--slug", default="")
    ext.add_argument("--owner", default="")


def _study_step_arguments(sub) -> None:
    """Invites, open/close/progress, analyse/freeze and the release list."""
    inv = sub.add_parser("invite", help="Create invites; print label,link CSV (shown once).")
    inv.add_argument("slug")
    inv.add_argument("--count", type=int, default=10)
    inv.add_argument("--base-url", default="http://127.0.0.1:8000")
    for name in ("open", "close", "progress"):
        sub.add_parser(name, help=f"{name.title()} a study.").add_argument("slug")
    for name, text in (
        (
            "analyse",
            "Analyse the ratings (a pairwise study's choices) now; print screening decisions "
            "and the MOS (scaling) summary.",
        ),
        (
            "freeze",
            "Freeze the next label release (MOS and raw ratings CSVs, a pairwise study's "
            "scores and choices CSVs; sha256).",
        ),
    ):
        action = sub.add_parser(name, help=text)
        action.add_argument("slug")
        _analysis_arguments(action)
        action.add_argument("--by", default="", help="Username recorded as the author.")
    sub.add_parser("releases", help="List a study's label releases.").add_argument("slug")
    pay = sub.add_parser("payments", help="The crowd payment and approval list (CSV).")
    pay.add_argument("slug")
    pay.add_argument("--out", default="-", help="File to write; '-' (default): standard output.")
    sub.add_parser(
        "release-idle",
        help="Release idle recruited sessions and end those past the maximum duration "
        "(their trials go back).",
    ).add_argument("slug")
    traps = sub.add_parser("make-traps", help="Add attention-check (trap) stimuli.")
    traps.add_argument("slug")
    traps.add_argument("--count", type=int, default=3)


def _release_file_arguments(sub) -> None:
    """``study export`` and ``study package``: a release's files."""
    exp = sub.add_parser("export", help="Copy a release's stored file (or live ratings).")
    exp.add_argument("slug")
    exp.add_argument("--release", type=int, default=None, help="Version; default: latest.")
    exp.add_argument(
        "--what",
        default=None,
        help="mos, raw or sidecar; a pairwise release's are scores, choices or sidecar "
        "(default: mos or scores).",
    )
    exp.add_argument(
        "--live",
        action="store_true",
        help="The current raw ratings (a pairwise study's choices), not a frozen release.",
    )
    exp.add_argument("--out", required=True, help="File to write; '-' for standard output.")

    pkg = sub.add_parser("package", help="Build a release's dataset package (zip).")
    pkg.add_argument("slug")
    pkg.add_argument("--release", type=int, default=None, help="Version; default: latest.")
    pkg.add_argument("--licence", default="", help="Licence for the README, e.g. CC BY 4.0.")
    pkg.add_argument("--citation", default="", help="How users should cite the database.")
    pkg.add_argument(
        "--demographics", default="", help="Comma-separated subject fields to include."
    )
    pkg.add_argument("--out", default="", help="Also copy the zip here ('-': stdout).")


class Command(BaseCommand):
    help = "Design, import into, invite to, open and close studies."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        _create_arguments(sub)
        _import_arguments(sub)
        _import_external_arguments(sub)
        _study_step_arguments(sub)
        _release_file_arguments(sub)

    def handle(self, *args, action: str, **options):
        handler = getattr(self, "do_" + action.replace("-", "_"))
        try:
            handler(**options)
        except ImportRejected as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(
                f"Import rejected: {len(exc.problems)} problem(s); nothing was written."
            ) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None

    def _study(self, slug: str) -> Study:
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        return study

    def _owner(self, username: str):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        return user

    def do_create(self, **cli_options):
        study = study_create(
            name=cli_options["name"],
            slug=cli_options["slug"],
            owner=self._owner(cli_options["owner"]),
            dimensions=_dimensions(cli_options["dimensions"]),
            scale_type=cli_options["scale_type"],
            scale_min=cli_options["scale_min"],
            scale_max=cli_options["scale_max"],
            scale_step=cli_options["scale_step"],
            target_ratings_per_stimulus=cli_options["target"],
            session_size=cli_options["session_size"],
            break_interval=cli_options["break_interval"],
            repeats_per_session=cli_options["repeats"],
        )
        self.stdout.write(f"Created study {study.slug} (id {study.pk}, draft).")

    def do_import(self, **cli_options):
        study = self._study(cli_options["slug"])
        if cli_options["run_async"]:
            options = {
                "manifest": str(cli_options["manifest"].resolve()),
                "allow_duplicates": cli_options["allow_duplicates"],
            }
            if cli_options["images"]:
                options["images"] = str(cli_options["images"].resolve())
            job = import_job_create(
                kind=ImportJob.Kind.MANIFEST, created_by=None, study=study, options=options
            )
            self.stdout.write(f"Queued import job {job.pk}.")
            return
        result = stimuli_import(
            study=study,
            manifest=cli_options["manifest"],
            images=cli_options["images"],
            allow_duplicates=cli_options["allow_duplicates"],
            progress=_progress_printer(self.stderr),
        )
        self.stdout.write(f"Imported {result.created} stimuli into {study.slug}.")
        self._write_duplicates(result.duplicates)

    def do_import_external(self, **cli_options):
        result = external_import(
            layout=cli_options["layout"],
            source=cli_options["source"],
            name=cli_options["name"],
            slug=cli_options["slug"],
            owner=self._owner(cli_options["owner"]),
            progress=_progress_printer(self.stderr),
        )
        created = f"Created study {result.study.slug} (id {result.study.pk}) with {result.created} stimuli"
        if result.release is None:  # a pairwise package: its choices, scaled by a freeze
            self.stdout.write(
                f"{created} and {result.choices} pairwise choices; freeze a release to scale them."
            )
        else:
            self.stdout.write(
                f"{created} and external release v{result.release.version} "
                f"({result.release.mos_file.name})."
            )
        if result.unlabelled:
            self.stdout.write(
                f"{result.unlabelled} stimuli were published without a MOS: imported "
                "unlabelled (not in the release's MOS CSV)."
            )
        self._write_duplicates(result.duplicates)

    def _write_duplicates(self, duplicates) -> None:
        if not duplicates:
            return
        self.stdout.write(
            f"{len(duplicates)} stimuli share a stored file with another (byte-identical "
            "images, each kept with its own scores):"
        )
        for item in duplicates:
            self.stdout.write(
                f"  row {item['row']}: {item['image']} same file as {item['same_file_as']}"
            )

    def do_invite(self, **cli_options):
        study = self._study(cli_options["slug"])
        invites = invites_create(study=study, count=cli_options["count"])
        base = cli_options["base_url"].rstrip("/")
        self.stdout.write(
            invites_csv(invites=invites, link_for=lambda t: base + invite_path(t)), ending=""
        )

    def do_open(self, **cli_options):
        study_set_status(study=self._study(cli_options["slug"]), status=Study.Status.OPEN)
        self.stdout.write(f"Study {cli_options['slug']} is open.")

    def do_close(self, **cli_options):
        study_set_status(study=self._study(cli_options["slug"]), status=Study.Status.CLOSED)
        self.stdout.write(f"Study {cli_options['slug']} is closed.")

    def do_payments(self, **cli_options):
        body = payment_csv(study=self._study(cli_options["slug"]))
        if cli_options["out"] == "-":
            self.stdout.write(body, ending="")
        else:
            Path(cli_options["out"]).write_text(body, encoding="utf-8")

    def do_release_idle(self, **cli_options):
        study = self._study(cli_options["slug"])
        released = idle_sessions_release(study=study)
        ended = sessions_past_max_duration_end(study=study)
        self.stdout.write(
            f"{released} idle session(s) released; {ended} past the maximum duration ended."
        )

    def do_make_traps(self, **cli_options):
        try:
            made = trap_stimuli_create(
                study=self._study(cli_options["slug"]), count=cli_options["count"]
            )
        except (ValueError, ValidationError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{len(made)} trap stimuli added.")

    def do_progress(self, **cli_options):
        study = self._study(cli_options["slug"])
        progress = study_progress(study=study)
        if study_is_pairwise(study):
            # Each answered pair counts for both its images, as on the progress page.
            stages = progress["pairs_by_stage"]
            counted = (
                f"{progress['stimuli_at_target']}/{progress['stimuli']} images compared in at "
                f"least {progress['target']} answered pairs; {progress['ratings_missing']} "
                f"comparisons missing; choices: {stages['normal']} (plus {stages['training']} "
                f"training and {stages['gold']} gold pairs, not data); "
            )
        else:
            counted = (
                f"{progress['stimuli_at_target']}/{progress['stimuli']} stimuli at target "
                f"{progress['target']}; {progress['ratings_missing']} ratings missing; "
            )
        self.stdout.write(
            f"{counted}~{progress['sessions_needed']} sessions needed; "
            f"subjects: {progress['subjects_by_state']}"
        )

    def do_analyse(self, **cli_options):
        study = self._study(cli_options["slug"])
        run = analysis_run_request(
            study=study, options=_analysis_options(cli_options, study), force=True, inline=True
        )
        if run.status != AnalysisRun.Status.DONE:
            raise CommandError(run.error or f"Analysis {run.status}.")
        if study_is_pairwise(study):
            lines = _pairwise_analysis_lines(run.summary)
        else:
            lines = _ratings_analysis_lines(run.summary)
        for line in lines:
            self.stdout.write(line)

    def do_freeze(self, **cli_options):
        study = self._study(cli_options["slug"])
        release = release_freeze(
            study=study,
            options=_analysis_options(cli_options, study),
            created_by=self._owner(cli_options["by"]),
        )
        counts = release.counts
        if release_is_pairwise(release):
            lines = _pairwise_freeze_lines(release)
        else:
            lines = [
                f"Froze {study.slug} v{release.version}: {counts['stimuli']} stimuli, "
                f"{counts['ratings']} ratings, {counts['subjects_kept']} of "
                f"{counts['subjects']} subjects kept."
            ]
        lines += [
            f"  {release.mos_file.name} sha256 {release.mos_sha256}",
            f"  {release.raw_file.name} sha256 {release.raw_sha256}",
        ]
        folder = release.mos_file.name.rpartition("/")[0]
        lines += [
            f"  {folder}/{name} sha256 {digest}"
            for name, digest in release.method_config.get("derived_files", {}).items()
        ]
        self.stdout.write("\n".join(lines))

    def do_releases(self, **cli_options):
        study = self._study(cli_options["slug"])
        for release in study.releases.order_by("version"):
            self.stdout.write(
                f"v{release.version}\t{release.source}\t{release.created_at:%Y-%m-%d %H:%M}\t"
                f"{release.counts.get('stimuli', 0)} stimuli\t{_release_method(release)}\t"
                f"{release.mos_sha256}"
            )

    def do_export(self, **cli_options):
        study = self._study(cli_options["slug"])
        if cli_options["live"]:
            live = choices_csv_stream if study_is_pairwise(study) else ratings_csv_stream
            self._write(cli_options["out"], live(study=study))
            return
        releases = study.releases.order_by("-version")
        if cli_options["release"] is not None:
            releases = releases.filter(version=cli_options["release"])
        release = releases.first()
        if release is None:
            raise CommandError(
                f"{study.slug} has no release {cli_options['release'] or ''}".strip() + "."
            )
        slot = _export_slot(release, cli_options["what"])
        download = release_download_open(release=release, what=slot)
        with download.handle as handle:
            digest = self._write(cli_options["out"], iter(lambda: handle.read(1 << 20), b""))
        expected = _expected_sha256(release, slot)
        # The stored file is checked against the sha256 recorded when it was frozen.
        if expected and digest != expected:
            raise CommandError(
                f"{download.filename}: sha256 {digest} does not match the release's {expected}."
            )

    def do_package(self, **cli_options):
        study = self._study(cli_options["slug"])
        releases = study.releases.order_by("-version")
        if cli_options["release"] is not None:
            releases = releases.filter(version=cli_options["release"])
        release = releases.first()
        if release is None:
            raise CommandError(
                f"{study.slug} has no release {cli_options['release'] or ''}".strip() + "."
            )
        release = release_package_request(
            release=release,
            licence=cli_options["licence"],
            citation=cli_options["citation"],
            demographics=[f for f in cli_options["demographics"].split(",") if f.strip()],
            inline=True,
        )
        if release.package_status != LabelRelease.PackageStatus.DONE:
            raise CommandError(f"Packaging v{release.version} failed: {release.package_error}")
        self.stderr.write(
            f"Packaged {study.slug} v{release.version}: {release.package_file.name} "
            f"({release.package_size} bytes) sha256 {release.package_sha256}"
        )
        if cli_options["out"]:
            download = release_download_open(release=release, what="package")
            with download.handle as handle:
                digest = self._write(cli_options["out"], iter(lambda: handle.read(1 << 20), b""))
            if digest != release.package_sha256:
                raise CommandError(f"{download.filename}: sha256 {digest} does not match.")

    def _write(self, out: str, chunks) -> str:
        digest = hashlib.sha256()
        with _sink(out) as target:
            for chunk in chunks:
                digest.update(chunk)
                target.write(chunk)
        if out != "-":
            self.stderr.write(f"Wrote {out} (sha256 {digest.hexdigest()}).")
        return digest.hexdigest()


def _sink(out: str):
    if out == "-":
        return contextlib.nullcontext(sys.stdout.buffer)
    return Path(out).open("wb")


def _expected_sha256(release: LabelRelease, slot: str) -> str:
    return {"mos": release.mos_sha256, "raw": release.raw_sha256}.get(slot, "")


def _export_slot(release: LabelRelease, what: str | None) -> str:
    """The stored file ``--what`` names: mos, raw or sidecar, which a pairwise release calls
    scores, choices and sidecar (the slot names are accepted there too, as by the API)."""
    labels = release_file_labels(release)
    slots = ["mos", *(["raw"] if release.raw_file else []), "sidecar"]
    if what is None:
        return "mos"
    for slot in slots:
        if what in (slot, labels.get(slot, slot)):
            return slot
    names = ", ".join(labels.get(slot, slot) for slot in slots)
    kind = "pairwise release" if release_is_pairwise(release) else "release"
    raise CommandError(
        f"--what {what}: v{release.version} of {release.study.slug} is a {kind} "
        f"with the files {names}."
    )


def _release_method(release: LabelRelease) -> str:
    """How a release was made, in a few words, for the release list."""
    options = release.method_config.get("options")
    if not options:
        return release.method_config.get("database", "")
    if release_is_pairwise(release):
        return (
            f"pairwise {options['method']}, {release.counts.get('choices_used', 0)} of "
            f"{release.counts.get('choices', 0)} choices used"
        )
    return (
        f"screening {','.join(options['screening']) or 'none'}, "
        f"normalisation {options['normalisation']}"
    )


def _ratings_analysis_lines(summary: dict) -> list[str]:
    lines = [
        f"{summary['n_input_ratings']} ratings, {summary['n_used_ratings']} used; "
        f"{summary['n_stimuli']} stimuli; subjects {summary['subjects']}"
    ]
    lines += [
        f"  rejected {row['subject']} ({row['dimension']}): {row['reasons']}"
        for row in summary["rejections"]
    ]
    return lines


def _pairwise_analysis_lines(summary: dict) -> list[str]:
    """A pairwise run's summary (analysis_digest.pairwise_digest): choices, what was scaled,
    and each subject the screening flagged, with its reasons."""
    subjects = summary["subjects"]
    rows = [dict(zip(subjects["columns"], row, strict=True)) for row in subjects["rows"]]
    excluded = set(summary["excluded_subjects"])
    lines = [
        f"{summary['n_input_choices']} choices, {summary['n_used_choices']} used; "
        f"{summary['n_stimuli']} stimuli scaled in {summary['n_groups']} groups "
        f"({summary['method']}, {summary['unit']}); subjects: "
        f"{subjects['total'] - len(excluded)} kept, {len(excluded)} rejected of "
        f"{subjects['total']}"
    ]
    rejected = [row for row in rows if row["rejected"]]
    for row in rejected:
        kept = "" if str(row["subject"]) in excluded else " (kept: --keep-rejected)"
        where = f" ({row['dimension']})" if row["dimension"] else ""
        lines.append(f"  rejected {row['subject']}{where}: {row['reasons']}{kept}")
    # The library also states each rejection as a warning: printed once, above.
    restated = tuple(f"subject {row['subject']} rejected on dimension" for row in rejected)
    lines += [
        f"  note: {warning}" for warning in summary["warnings"] if not warning.startswith(restated)
    ]
    return lines


def _pairwise_freeze_lines(release: LabelRelease) -> list[str]:
    counts, config = release.counts, release.method_config
    lines = [
        f"Froze {release.study.slug} v{release.version} (pairwise, "
        f"{config['pairwise']['scaling']}, {config['unit']}): {counts['stimuli']} stimuli in "
        f"{counts['groups']} groups, {counts['choices']} choices ({counts['choices_used']} "
        f"used), {counts['subjects_kept']} of {counts['subjects']} subjects kept."
    ]
    lines += [
        f"  rejected {row['subject']}"
        + (f" ({row['dimension']})" if row["dimension"] else "")
        + f": {row['reasons']}"
        for row in config["rejections"]
    ]
    return lines


def option_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _flag_specs() -> dict[str, tuple[OptionSpec, str]]:
    """Every analysis option of either kind of study, once, with its help text: a
    subcommand's flags are parsed before the study (and so its kind) is known."""
    ratings, pairwise = option_specs(), pairwise_option_specs()
    flags = {
        name: (
            spec,
            f"{spec.help}; a pairwise study: {pairwise[name].help}"
            if name in pairwise
            else f"{spec.help} (ratings studies only)",
        )
        for name, spec in ratings.items()
    }
    for name, spec in pairwise.items():
        flags.setdefault(name, (spec, f"{spec.help} (pairwise studies only)"))
    return flags


def _analysis_arguments(parser) -> None:
    """One flag per analysis option, from its one definition, plus --options for JSON."""
    for name, (spec, text) in _flag_specs().items():
        if spec.kind == "many":
            parser.add_argument(
                option_flag(name),
                default=None,
                help=f"Comma-separated, any of {','.join(spec.values)}; 'none' for none. {text}.",
            )
        elif spec.kind == "switch":
            parser.add_argument(
                option_flag(name), action=argparse.BooleanOptionalAction, default=None, help=text
            )
        elif spec.kind in ("choice", "integer") and spec.choices:
            kind = int if spec.kind == "integer" else str
            parser.add_argument(
                option_flag(name), type=kind, choices=spec.values, default=None, help=text
            )
        else:
            kind = int if spec.kind == "integer" else float
            parser.add_argument(option_flag(name), type=kind, default=None, help=text)
    parser.add_argument(
        "--options", default=None, help="All options as JSON (flags given override it)."
    )


def _analysis_options(cli_options: dict, study: Study) -> dict:
    """The --options JSON with the flags given over it; a flag of the other kind of study
    is refused by name (the values themselves are checked by the study's own options)."""
    try:
        options = json.loads(cli_options["options"]) if cli_options.get("options") else {}
    except json.JSONDecodeError as exc:
        raise CommandError(f"--options is not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise CommandError("--options must be a JSON object.")
    pairwise = study_is_pairwise(study)
    specs = pairwise_option_specs() if pairwise else option_specs()
    given = {name: cli_options[name] for name in _flag_specs() if cli_options.get(name) is not None}
    foreign = [option_flag(name) for name in given if name not in specs]
    if foreign:
        kind = "pairwise" if pairwise else "ratings"
        raise CommandError(
            f"{', '.join(foreign)}: not an option of {study.slug}, a {kind} study; its options "
            f"are {', '.join(option_flag(name) for name in specs)}."
        )
    for name, value in given.items():
        if specs[name].kind == "many":
            value = [] if value == "none" else value.split(",")
        options[name] = value
    return options
