"""Reads for a study's stimuli table at AIGIQA-20K scale: search, filters, sorting, pages.

A page costs a fixed number of queries whatever its size: the count and the page's rows.
Rating counts are ``Stimulus.rating_tally`` (non-training ratings, kept by the rating
table's triggers), read with the rows, so sorting or filtering by them reads the stimuli
only, never the 1.26 M ratings.
"""

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import ExpressionWrapper, F, IntegerField, Q, QuerySet

from annotation.models import Stimulus, Study
from core.params import text_param

DEFAULT_PAGE_SIZE = 50
PAGE_SIZES = (25, 50, 100, 200)
# Sort keys a request may ask for (``-key`` for descending) and the columns behind them.
STIMULUS_SORTS = {
    "id": ("id",),
    "name": ("original_name", "id"),
    "generator": ("generator", "id"),
    "role": ("role", "id"),
    "ratings": ("rating_trials", "id"),
}


@dataclass(frozen=True)
class StimulusQuery:
    """What the researcher asked the table for; unknown values fall back to the defaults."""

    search: str = ""
    generator: str = ""
    role: str = ""
    below_target: bool = False
    excluded: str = ""  # "" any, "yes" excluded from new playlists, "no" included
    sort: str = "id"

    @property
    def needs_counts(self) -> bool:
        return self.below_target or self.sort.lstrip("-") == "ratings"


def stimulus_query_from(params) -> StimulusQuery:
    """A :class:`StimulusQuery` from request parameters (a QueryDict or a dict)."""
    sort = params.get("sort", "id") or "id"
    role = params.get("role", "")
    excluded = params.get("excluded", "")
    return StimulusQuery(
        search=text_param(params, "q", 200),
        generator=text_param(params, "generator", 100),
        role=role if role in Stimulus.Role.values else "",
        below_target=params.get("below_target") in ("1", "true", "on", "yes"),
        excluded=excluded if excluded in ("yes", "no") else "",
        sort=sort if sort.lstrip("-") in STIMULUS_SORTS else "id",
    )


def _dimension_count(study: Study) -> int:
    return max(study.dimensions.count(), 1)


def stimulus_search(*, stimuli: QuerySet[Stimulus], search: str) -> QuerySet[Stimulus]:
    """File name, prompt or generator containing the words; an id or a sha256 prefix."""
    if not search:
        return stimuli
    match = (
        Q(original_name__icontains=search)
        | Q(prompt__icontains=search)
        | Q(generator__icontains=search)
        | Q(prompt_group__iexact=search)
    )
    # ASCII digits only ("²".isdigit() is true too) and within a bigint, else no id.
    if search.isascii() and search.isdigit() and len(search) <= 18:
        match |= Q(pk=int(search))
    if len(search) >= 8 and all(c in "0123456789abcdef" for c in search.lower()):
        match |= Q(sha256__startswith=search.lower())
    return stimuli.filter(match)


def rating_trials_expression(*, dimensions: int) -> ExpressionWrapper:
    """Rated trials of a stimulus: its non-training ratings / dimensions (one per dimension
    per trial), from the stimulus row's tally."""
    return ExpressionWrapper(F("rating_tally") / dimensions, output_field=IntegerField())


def stimulus_list_filtered(*, study: Study, query: StimulusQuery) -> QuerySet[Stimulus]:
    """The study's stimuli that match ``query``, in its order (the count is not annotated
    unless the query sorts or filters by it)."""
    stimuli = stimulus_search(stimuli=study.stimuli.all(), search=query.search)
    if query.generator:
        stimuli = stimuli.filter(generator=query.generator)
    if query.role:
        stimuli = stimuli.filter(role=query.role)
    if query.excluded:
        stimuli = stimuli.filter(excluded_from_playlists=query.excluded == "yes")
    if query.needs_counts:
        stimuli = stimuli.annotate(
            rating_trials=rating_trials_expression(dimensions=_dimension_count(study))
        )
    if query.below_target:
        stimuli = stimuli.filter(rating_trials__lt=study.target_ratings_per_stimulus)
    order = STIMULUS_SORTS[query.sort.lstrip("-")]
    if query.sort.startswith("-"):
        order = tuple(f"-{column}" for column in order)
    return stimuli.order_by(*order)


def stimulus_page(
    *, study: Study, query: StimulusQuery, page: str | int | None, page_size: int
) -> Page:
    """One page of the table; each stimulus on it carries ``rating_trials``."""
    page_size = page_size if page_size in PAGE_SIZES else DEFAULT_PAGE_SIZE
    # The "same file as <name>" marker reads the original's name: joined, not one query a row.
    stimuli = stimulus_list_filtered(study=study, query=query).select_related("same_file_as")
    stimuli = stimuli.only(
        "id",
        "study_id",
        "image",
        "sha256",
        "width",
        "height",
        "original_name",
        "generator",
        "prompt",
        "role",
        "excluded_from_playlists",
        "rating_tally",
        "same_file_as__original_name",
    )
    found = Paginator(stimuli, page_size).get_page(page)
    rows = list(found.object_list)
    if not query.needs_counts:
        # The tally came with the rows; only the division is left to do.
        dimensions = _dimension_count(study)
        for stimulus in rows:
            stimulus.rating_trials = stimulus.rating_tally // dimensions
    found.object_list = rows
    return found


def stimulus_generators(*, study: Study) -> list[str]:
    """The generators in the study, for the filter's choices."""
    return list(
        study.stimuli.exclude(generator="")
        .order_by("generator")
        .values_list("generator", flat=True)
        .distinct()
    )


def stimulus_trial_counts(*, study: Study, dimensions: int) -> list[int]:
    """Rated trials of each normal stimulus, in id order, zeros included: the stimuli's
    tallies, one read of the study's stimulus rows."""
    normal = study.stimuli.filter(role=Stimulus.Role.NORMAL).order_by("id")
    return [tally // dimensions for tally in normal.values_list("rating_tally", flat=True)]
