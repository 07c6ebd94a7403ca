"""Pairwise-comparison studies: the choices table, scaling, screening and pair designs.

A pure library like the rest of :mod:`analysis` (numpy, pandas, scipy; no Django). Scores
are in JOD units: a difference of 1 means 75 % of answers prefer the better stimulus.
See docs/analysis.md, "Pairwise comparisons".
"""

from analysis.pairwise.bradley_terry import BradleyTerryOptions, bradley_terry_scores
from analysis.pairwise.choices import (
    CHOICE_VALUES,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SIDE_VALUES,
    check_groups,
    choices_from_winners,
    groups_of,
    validate_choices,
)
from analysis.pairwise.counts import GroupBatch, PairLayout, pair_layout
from analysis.pairwise.designs import (
    ActiveDesign,
    FullDesign,
    PairDesign,
    RandomDesign,
    VarianceDesign,
)
from analysis.pairwise.joint import JointOptions, JointScale, bootstrap_joint, joint_scale
from analysis.pairwise.pipeline import (
    PairwisePipelineOptions,
    PairwisePipelineResult,
    pairwise_pipeline_run,
)
from analysis.pairwise.scale import (
    BootstrapOptions,
    ScalingOptions,
    bootstrap_scale,
    scale_choices,
    solve_scores,
)
from analysis.pairwise.screening import (
    PairwiseScreeningOptions,
    outlier_analysis,
    repeat_consistency,
    transitivity,
)
from analysis.pairwise.sureal_compat import (
    sureal_bradley_terry,
    sureal_preference_matrix,
    sureal_thurstone,
)
from analysis.pairwise.thurstone import JOD_SIGMA, ThurstoneOptions, thurstone_scores

__all__ = [
    "CHOICE_VALUES",
    "JOD_SIGMA",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "SIDE_VALUES",
    "ActiveDesign",
    "VarianceDesign",
    "BootstrapOptions",
    "BradleyTerryOptions",
    "FullDesign",
    "JointOptions",
    "JointScale",
    "GroupBatch",
    "PairDesign",
    "PairLayout",
    "PairwisePipelineOptions",
    "PairwisePipelineResult",
    "PairwiseScreeningOptions",
    "RandomDesign",
    "ScalingOptions",
    "ThurstoneOptions",
    "bootstrap_joint",
    "bootstrap_scale",
    "bradley_terry_scores",
    "check_groups",
    "choices_from_winners",
    "groups_of",
    "joint_scale",
    "outlier_analysis",
    "pairwise_pipeline_run",
    "pair_layout",
    "repeat_consistency",
    "scale_choices",
    "solve_scores",
    "sureal_bradley_terry",
    "sureal_preference_matrix",
    "sureal_thurstone",
    "thurstone_scores",
    "transitivity",
    "validate_choices",
]
