"""The datasheet of a dataset package: README.md text and the score-distribution figures.

Headings follow Gebru et al., "Datasheets for Datasets" (motivation, composition,
collection process, preprocessing, uses, distribution, maintenance), filled from the
study's settings and the release's method configuration, which :func:`datasheet_facts`
gathers. The figures are drawn here (SVG by hand, PNG with Pillow) so packaging needs no
browser and no plotting library.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw

from annotation.models import LabelRelease, RatingSession, Stimulus, Study
from annotation.services.release_formats import dimension_descriptions, release_is_pairwise

if TYPE_CHECKING:
    from annotation.services.release_contents import PackageContents

HISTOGRAM_BINS = 20
FIGURE_SIZE = (640, 360)
MARGIN = {"left": 60, "right": 20, "top": 40, "bottom": 50}


@dataclass(frozen=True)
class Histogram:
    title: str
    axis: str
    low: float
    high: float
    counts: list[int]

    @property
    def edges(self) -> list[float]:
        width = (self.high - self.low) / len(self.counts)
        return [self.low + i * width for i in range(len(self.counts) + 1)]


def histogram_build(
    values: Sequence[float], *, low: float, high: float, title: str, axis: str
) -> Histogram:
    counts = [0] * HISTOGRAM_BINS
    span = (high - low) or 1.0
    for value in values:
        if not math.isfinite(value):
            continue
        index = int((value - low) / span * HISTOGRAM_BINS)
        counts[min(max(index, 0), HISTOGRAM_BINS - 1)] += 1
    return Histogram(title=title, axis=axis, low=low, high=high, counts=counts)


def _bars(hist: Histogram) -> list[tuple[float, float, float, float]]:
    """(x, y, width, height) of every bar in figure pixels."""
    width, height = FIGURE_SIZE
    plot_w = width - MARGIN["left"] - MARGIN["right"]
    plot_h = height - MARGIN["top"] - MARGIN["bottom"]
    top = max(hist.counts) or 1
    bar_w = plot_w / len(hist.counts)
    bars = []
    for index, count in enumerate(hist.counts):
        bar_h = plot_h * count / top
        x = MARGIN["left"] + index * bar_w
        bars.append((x, MARGIN["top"] + plot_h - bar_h, bar_w, bar_h))
    return bars


def _ticks(hist: Histogram) -> list[tuple[float, str]]:
    width, _ = FIGURE_SIZE
    plot_w = width - MARGIN["left"] - MARGIN["right"]
    return [
        (MARGIN["left"] + plot_w * i / 4, f"{hist.low + (hist.high - hist.low) * i / 4:g}")
        for i in range(5)
    ]


def histogram_svg(hist: Histogram) -> bytes:
    width, height = FIGURE_SIZE
    base = height - MARGIN["bottom"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(hist.title)}</title>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">'
        f"{escape(hist.title)}</text>",
    ]
    for x, y, w, h in _bars(hist):
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w - 1, 1):.1f}" height="{h:.1f}" '
            'fill="#3b6ea8"/>'
        )
    parts.append(
        f'<line x1="{MARGIN["left"]}" y1="{base}" x2="{width - MARGIN["right"]}" y2="{base}" '
        'stroke="black"/>'
    )
    for x, label in _ticks(hist):
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{label}</text>')
    parts.append(
        f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle">{escape(hist.axis)}</text>'
    )
    parts.append(
        f'<text x="16" y="{height / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {height / 2})">Stimuli (max {max(hist.counts)})</text>'
    )
    parts.append("</svg>\n")
    return "\n".join(parts).encode("utf-8")


def histogram_png(hist: Histogram) -> bytes:
    width, height = FIGURE_SIZE
    image = Image.new("RGB", FIGURE_SIZE, "white")
    draw = ImageDraw.Draw(image)
    base = height - MARGIN["bottom"]
    draw.text((width / 2, 14), hist.title, fill="black", anchor="mt")
    for x, y, w, h in _bars(hist):
        if h > 0:
            draw.rectangle([x, y, x + max(w - 1, 1), base], fill=(59, 110, 168))
    draw.line([MARGIN["left"], base, width - MARGIN["right"], base], fill="black")
    for x, label in _ticks(hist):
        draw.text((x, base + 6), label, fill="black", anchor="mt")
    draw.text((width / 2, height - 16), hist.axis, fill="black", anchor="mt")
    draw.text((8, MARGIN["top"]), f"images (max {max(hist.counts)})", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- README -------------------------------------------------------------------------------


@dataclass
class DatasheetFacts:
    """What the README says, gathered by the package builder from the study and release."""

    title: str
    slug: str
    version: int
    description: str
    licence: str
    citation: str
    created_at: str
    scale: dict
    dimensions: list[dict]  # key, label, question, anchor_text
    generators: dict[str, int]
    settings_keys: list[str]
    prompts: int
    prompt_groups: int
    stimuli: int
    image_to_image: int
    training: int
    gold: int
    session_size: int
    break_interval: int
    repeats_per_session: int
    gold_per_session: int
    target_ratings: int
    instructions: str
    counts: dict
    options: dict
    methods: list[dict]
    demographics: list[str]
    reliability: dict = field(default_factory=dict)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (dimension, stem)
    files: list[tuple[str, str]] = field(default_factory=list)  # (name, what it holds)
    display: list[str] = field(default_factory=list)
    # A pairwise release: its design (method_config.pairwise), unit and scaling options.
    pairwise: dict = field(default_factory=dict)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return lines


def _options_text(options: dict) -> list[str]:
    if not options:
        return ["- The MOS were published by the original database and imported as they are."]
    screening = ", ".join(options.get("screening") or []) or "none"
    return [
        f"- Subject screening: {screening}.",
        f"- Normalisation of each subject's scores: {options.get('normalisation', 'none')}.",
        f"- Hidden repeats: {options.get('repeat_policy', 'first')} showing used for the MOS.",
        f"- Confidence intervals: Student t, level {options.get('confidence', 0.95)} "
        "(column ci95_<dimension> holds the half-width).",
    ]


def _subjects_text(facts: DatasheetFacts) -> list[str]:
    counts = facts.counts
    if not counts.get("ratings"):
        return [
            "- The MOS were imported from a published database: this site holds no individual "
            "ratings and no subjects for it (see that database's own documentation)."
        ]
    return [
        f"- {counts.get('subjects', 0)} subjects gave {counts.get('ratings', 0)} ratings; "
        f"{counts.get('subjects_rejected', 0)} were rejected by screening, "
        f"{counts.get('subjects_kept', 0)} kept ({counts.get('ratings_used', 0)} ratings used).",
        "- Subjects appear under random pseudonyms made for this package (`subjects.csv`); no "
        "names, e-mail addresses, IP addresses, invite tokens or timestamps are included.",
        "- Demographic fields included: "
        + (", ".join(facts.demographics) if facts.demographics else "none")
        + ".",
    ]


def _heading_and_motivation(facts: DatasheetFacts) -> list[str]:
    return [
        f"# {facts.title}: dataset v{facts.version}",
        "",
        f"Package of label release v{facts.version} of study `{facts.slug}`, frozen "
        f"{facts.created_at}. This datasheet follows the headings of *Datasheets for "
        "Datasets* (Gebru et al., 2021).",
        "",
        "## Licence and citation",
        "",
        f"- Licence: {facts.licence or 'not stated by the researcher'}",
        f"- Cite as: {facts.citation or 'not stated by the researcher'}",
        "",
        "## Motivation",
        "",
        facts.description or "(The study has no description.)",
        "",
        (
            "The images are AI-generated; human subjects chose the better of two images, and "
            "the choices were scaled to scores in JOD, so that image-quality models can be "
            "trained and evaluated on them."
            if facts.pairwise
            else "The images are AI-generated; human subjects rated their quality so that "
            "image-quality models can be trained and evaluated on mean opinion scores (MOS)."
        ),
    ]


def _composition(facts: DatasheetFacts) -> list[str]:
    return [
        "## Composition",
        "",
        f"- {facts.stimuli} rated images "
        + (
            "(`scores.csv`, one row per image, dimension and group)"
            if facts.pairwise
            else "(`mos.csv`, one row each)"
        )
        + f" from {len(facts.generators)} "
        f"generator(s); {facts.image_to_image} made from a prompt image (image-to-image).",
        f"- {facts.prompts} distinct prompts in {facts.prompt_groups} prompt group(s).",
        f"- {facts.training} training (anchor) image(s) shown before rating and "
        f"{facts.gold} gold image(s) with a known answer (role `gold`); those without a MOS "
        "are listed in `anchors.csv` with their expected scores.",
        "- Generation settings per image are in the `settings` column (JSON)"
        + (f": {', '.join(facts.settings_keys)}." if facts.settings_keys else "."),
        "",
        *_table(["Generator", "Images"], [[g, n] for g, n in sorted(facts.generators.items())]),
        "",
        "### Files",
        "",
        *_table(["File", "Contents"], [[f"`{name}`", what] for name, what in facts.files]),
        "",
        "Every file's sha256 is listed in `SHA256SUMS` (check with `sha256sum -c SHA256SUMS`).",
    ]


def _scale_text(scale: dict) -> str:
    text = f"- Scale: {scale.get('type', '')} from {scale.get('min')} to {scale.get('max')}"
    if scale.get("step"):
        text += f" in steps of {scale['step']}"
    if scale.get("labels"):
        text += f"; labels {', '.join(scale['labels'])}"
    return text + "."


def _collection(facts: DatasheetFacts) -> list[str]:
    return [
        "## Collection process",
        "",
        _scale_text(facts.scale),
        f"- Sessions of {facts.session_size} trials, a break every {facts.break_interval} "
        f"trials (0 = none), {facts.repeats_per_session} hidden repeat(s) and "
        f"{facts.gold_per_session} gold trial(s) per session; target "
        f"{facts.target_ratings} ratings per image.",
        f"- Training: {facts.training} anchor image(s) with explained expected scores, shown "
        "first; their ratings are not in `ratings.csv`.",
        "- Display conditions recorded per session: "
        + (", ".join(facts.display) if facts.display else "none recorded")
        + ".",
        "",
        "Dimensions and the question subjects answered:",
        "",
        *_table(
            ["Dimension", "Label", "Question", "Anchors"],
            [
                [d["key"], d["label"], d["question"], d.get("anchor_text", "")]
                for d in facts.dimensions
            ],
        ),
        "",
        "Instructions shown to subjects:",
        "",
        "> " + (facts.instructions or "(none)").replace("\n", "\n> "),
    ]


def _labelling(facts: DatasheetFacts) -> list[str]:
    lines = [
        "## Preprocessing and labelling: the MOS",
        "",
        *_options_text(facts.options),
        "",
        "Methods (name, standard, version):",
        "",
        *(
            f"- {m.get('method', '')}"
            + (f" ({m['standard']})" if m.get("standard") else "")
            + (f", {m['version']}" if m.get("version") else "")
            for m in facts.methods
        ),
    ]
    if facts.reliability.get("rows"):
        lines += [
            "",
            "### Reliability",
            "",
            *_table(["Dimension", *facts.reliability["columns"]], facts.reliability["rows"]),
        ]
    if facts.figures:
        lines += ["", "### Score distributions", ""]
        lines += [
            f"![MOS of {dim}](figures/{stem}.png) ([SVG](figures/{stem}.svg))"
            for dim, stem in facts.figures
        ]
    return lines


def _uses_distribution_maintenance(*, table: str) -> list[str]:
    """``table``: the per-image CSV's stem (mos, or scores for a pairwise package)."""
    return [
        line.replace("mos", table) if line.startswith(("mos =", "image =")) else line
        for line in USES_DISTRIBUTION_MAINTENANCE
    ]


USES_DISTRIBUTION_MAINTENANCE = [
    "## Uses",
    "",
    "Training and evaluating no-reference quality and text-image alignment models for "
    "AI-generated images. Split by `prompt_group` so one prompt's images stay on one side.",
    "",
    "```python",
    "import pandas as pd",
    "from PIL import Image",
    'mos = pd.read_csv("mos.csv")',
    'image = Image.open(mos.loc[0, "image"])  # paths are relative to this folder',
    "```",
    "",
    "## Distribution",
    "",
    "One archive with this README, `croissant.json` (MLCommons Croissant 1.0 metadata), "
    "`release.json` (method configuration and column meanings) and `SHA256SUMS`.",
    "",
    "## Maintenance",
    "",
    "Releases are immutable: corrections make a new version with a new package.",
]


def _pairwise_collection(facts: DatasheetFacts) -> list[str]:
    design = facts.pairwise
    allowed = "allowed" if design.get("no_preference") else "not allowed (forced choice)"
    grouping = design.get("grouping", "")
    if design.get("group_column"):
        grouping += f" (column `{design['group_column']}`)"
    return [
        "## Collection process",
        "",
        "- Method: pairwise comparison, two-alternative forced choice (2AFC): each trial "
        "showed two images side by side and the subject chose the better one.",
        f"- No-preference answer: {allowed}.",
        f"- Pair design: {design.get('design', '')}; images grouped by {grouping}: only "
        "images of one group were compared with each other.",
        f"- Sessions of {facts.session_size} trials, a break every {facts.break_interval} "
        "trials (0 = none).",
        "",
        "Dimensions and the question subjects answered:",
        "",
        *_table(
            ["Dimension", "Label", "Question"],
            [[d["key"], d["label"], d["question"]] for d in facts.dimensions],
        ),
        "",
        "Instructions shown to subjects:",
        "",
        "> " + (facts.instructions or "(none)").replace("\n", "\n> "),
    ]


def _pairwise_subjects(facts: DatasheetFacts) -> list[str]:
    counts = facts.counts
    return [
        f"- {counts.get('subjects', 0)} subjects made {counts.get('choices', 0)} choices on "
        f"{counts.get('stimuli', 0)} images in {counts.get('groups', 0)} (dimension, group) "
        f"cell(s); {counts.get('subjects_rejected', 0)} subjects were rejected by screening, "
        f"{counts.get('subjects_kept', 0)} kept ({counts.get('choices_used', 0)} choices "
        "scaled).",
        "- Subjects appear under random pseudonyms made for this package (`subjects.csv`, "
        "`choices.csv`); no names, e-mail addresses, IP addresses, invite tokens or "
        "timestamps are included.",
        "- Demographic fields included: "
        + (", ".join(facts.demographics) if facts.demographics else "none")
        + ".",
    ]


def _pairwise_labelling(facts: DatasheetFacts) -> list[str]:
    design = facts.pairwise
    options = facts.options
    outcome = (
        "reported only, every subject is scaled"
        if options.get("keep_rejected")
        else "rejected subjects are left out of the scaling"
    )
    return [
        "## Preprocessing and labelling: the scaled scores",
        "",
        f"- Scaling method: {design.get('scaling', '')}; unit {design.get('unit', 'JOD')} "
        "(just-objectionable differences: a difference of 1 means 75 % of answers prefer the "
        "better image). Scores are comparable within a group only.",
        "- Subject screening: a subject is rejected who changes preference on more than "
        f"{options.get('max_repeat_inconsistency')} of swapped repeats, has more than "
        f"{options.get('max_circular_share')} circular triads, or whose likelihood lies more "
        f"than {options.get('outlier_distance')} IQRs below Q1; {outcome}.",
        "- Answers flagged too fast: "
        + ("kept" if options.get("keep_too_fast") else "left out")
        + ".",
        "- Analysis options (`python -m analysis pairwise choices.csv` with these reproduces "
        "`scores.csv`):",
        "",
        *_table(["Option", "Value"], [[k, options[k]] for k in sorted(options)]),
    ]


def datasheet_markdown(facts: DatasheetFacts) -> str:
    pairwise = bool(facts.pairwise)
    sections = [
        _heading_and_motivation(facts),
        _composition(facts),
        _pairwise_collection(facts) if pairwise else _collection(facts),
        ["## Subjects", "", *(_pairwise_subjects(facts) if pairwise else _subjects_text(facts))],
        _pairwise_labelling(facts) if pairwise else _labelling(facts),
        _uses_distribution_maintenance(table="scores" if pairwise else "mos"),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


# --- the facts, gathered from the study and the release ------------------------------------


def datasheet_facts(
    *,
    release: LabelRelease,
    contents: PackageContents,
    demographics: list[str],
    reliability: dict,
    figures: list[tuple[str, str]],
    files: list[tuple[str, str]],
) -> DatasheetFacts:
    """What the README says about this package (``figures`` and ``files``: as written)."""
    study = release.study
    rated, anchors = contents.rated, contents.anchors
    return DatasheetFacts(
        title=study.name,
        slug=study.slug,
        version=release.version,
        description=study.description,
        licence=release.licence,
        citation=release.citation,
        created_at=release.created_at.date().isoformat(),
        scale=_scale_facts(study),
        dimensions=dimension_descriptions(study, contents.keys),
        generators=dict(Counter(s.generator or "(unknown)" for s in rated)),
        settings_keys=sorted({k for s in rated for k in s.settings}),
        prompts=len({s.prompt for s in rated}),
        prompt_groups=len({s.prompt_group for s in rated}),
        stimuli=len(rated),
        image_to_image=sum(1 for s in rated if s.reference),
        training=sum(1 for s in anchors if s.role == Stimulus.Role.TRAINING),
        gold=sum(1 for s in [*rated, *anchors] if s.role == Stimulus.Role.GOLD),
        session_size=study.session_size,
        break_interval=study.break_interval,
        repeats_per_session=study.repeats_per_session,
        gold_per_session=study.gold_per_session,
        target_ratings=study.target_ratings_per_stimulus,
        instructions=study.instructions,
        counts=release.counts,
        options=release.method_config.get("options") or {},
        methods=list(release.method_config.get("methods") or []),
        demographics=demographics,
        reliability=reliability,
        figures=figures,
        files=files,
        display=_display_conditions(study),
        pairwise=_pairwise_facts(release),
    )


def _pairwise_facts(release: LabelRelease) -> dict:
    config = release.method_config
    if not release_is_pairwise(release):
        return {}
    return {**(config.get("pairwise") or {}), "unit": config.get("unit", "JOD")}


def _scale_facts(study: Study) -> dict:
    return {
        "type": study.get_scale_type_display(),
        "min": study.scale_min,
        "max": study.scale_max,
        "step": study.scale_step,
        "labels": study.scale_labels,
    }


def _display_conditions(study: Study) -> list[str]:
    """What the sessions' display checks recorded, summarised without any one subject."""
    checks = [
        check
        for check in RatingSession.objects.filter(subject__study=study).values_list(
            "display_check", flat=True
        )
        if check
    ]
    if not checks:
        return []
    by_area = sorted(checks, key=lambda check: check["window_width"] * check["window_height"])
    windows = [f"{check['window_width']}x{check['window_height']}" for check in by_area]
    ratios = sorted({float(c["device_pixel_ratio"]) for c in checks})
    fullscreen = sum(1 for c in checks if c.get("fullscreen"))
    return [
        f"{len(checks)} sessions checked",
        f"window sizes {windows[0]} to {windows[-1]} CSS px",
        "device pixel ratios " + ", ".join(f"{ratio:g}" for ratio in ratios),
        f"{fullscreen} of {len(checks)} in full screen",
        "every subject confirmed the grey steps were distinguishable",
        f"surround grey level {study.surround_grey} of 255",
    ]
