"""A pairwise study whose choices come from the analysis library's planted-truth simulator."""

from __future__ import annotations

from analysis.pairwise.synthetic import full_design_study
from annotation.models import PairwiseChoice, Study
from annotation.tests.factories import RatingSessionFactory, SubjectFactory
from annotation.tests.pairwise_support import pairwise_study_create


def pairwise_study_with_choices(
    *,
    groups: int = 2,
    per_group: int = 4,
    subjects: int = 8,
    repeats: int = 1,
    behaviour: dict | None = None,
    seed: int = 0,
    spread: float = 3.0,
    dimensions: tuple[str, ...] = ("match",),
) -> Study:
    """A pairwise study (prompt groups ``p0``, ``p1``, ...) with every subject's answers to
    a full design, one simulated panel per dimension; simulated subject ``s03`` is the study
    subject labelled ``s03``."""
    study = pairwise_study_create(prompts=groups, per_prompt=per_group, dimensions=dimensions)
    by_group: dict[str, list[int]] = {}
    for pk, group in study.stimuli.order_by("id").values_list("id", "prompt_group"):
        by_group.setdefault(group, []).append(pk)
    planted = {
        dimension: full_design_study(
            groups,
            per_group,
            subjects,
            repeats=repeats,
            behaviour=behaviour,
            spread=spread,
            seed=seed + 10 * order,
        )
        for order, dimension in enumerate(dimensions)
    }
    first = next(iter(planted.values()))
    # Simulated ids "g0-s1" -> the study's second stimulus of prompt group p0.
    stimulus_of = {
        row.stimulus: by_group[f"p{int(str(row.group)[1:])}"][position]
        for _, frame in first.truth.groupby("group")
        for position, row in enumerate(frame.itertuples())
    }
    sessions = {
        label: RatingSessionFactory(subject=SubjectFactory(study=study, label=label))
        for label in first.subjects
    }
    dimension_rows = {d.key: d for d in study.dimensions.all()}
    rows = []
    for dimension, simulated in planted.items():
        for trial, row in enumerate(simulated.choices.itertuples()):
            rows.append(
                PairwiseChoice(
                    session=sessions[row.subject],
                    dimension=dimension_rows[dimension],
                    trial_index=trial,
                    group=f"p{int(str(row.group)[1:])}",
                    left_id=stimulus_of[row.left],
                    right_id=stimulus_of[row.right],
                    choice=row.choice,
                    side=row.side,
                    response_time_ms=int(row.time * 1000),
                )
            )
    PairwiseChoice.objects.bulk_create(rows)
    return study
