"""The annotation domain: studies, what is rated, who rates, and the ratings themselves.

Writes go through `annotation.services`; models hold structure and database
constraints only, so every rule lives in one place.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class ScaleType(models.TextChoices):
        CONTINUOUS = "continuous", "Continuous slider"
        ACR = "acr", "ACR buttons (absolute category rating)"
        PAIRWISE = "pairwise", "Pairwise comparison (which of two images is better)"

    class PairGrouping(models.TextChoices):
        PROMPT = "prompt", "By prompt: the images of one prompt are compared"
        ALL = "all", "All against all: every image with every other"
        COLUMN = "column", "By a manifest column"

    class PairDesign(models.TextChoices):
        ACTIVE = "active", "Active: the most informative pairs given the choices so far"
        FULL = "full", "Full: every pair of a group equally often"
        RANDOM = "random", "Random pairs"
        VARIANCE = "variance", "Least variance: the pairs that most reduce the scale's error"

    class Allocation(models.TextChoices):
        BALANCED = "balanced", "Balanced: the same number of ratings for every stimulus"
        ADAPTIVE = "adaptive", "Adaptive: rate until each MOS is precise enough"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="studies",
    )
    description = models.TextField(blank=True)
    consent_text = models.TextField(blank=True)
    instructions = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)

    scale_type = models.CharField(
        max_length=12, choices=ScaleType.choices, default=ScaleType.CONTINUOUS
    )
    scale_min = models.FloatField(default=0)
    scale_max = models.FloatField(default=100)
    # 0 means any value in range (a continuous slider); ACR uses 1.
    scale_step = models.FloatField(default=0)
    scale_labels = models.JSONField(
        default=list, blank=True, help_text="Labels spread evenly from min to max."
    )

    target_ratings_per_stimulus = models.PositiveIntegerField(default=15)
    session_size = models.PositiveIntegerField(
        default=100, help_text="Rating trials per subject session."
    )
    break_interval = models.PositiveIntegerField(
        default=50, help_text="Trials between breaks; 0 = none."
    )
    repeats_per_session = models.PositiveIntegerField(
        default=0, help_text="Stimuli shown twice per session, for consistency checks."
    )
    gold_per_session = models.PositiveIntegerField(default=0)

    # Pairwise studies (scale_type "pairwise"; annotation.services.pairwise): pairs are
    # formed inside comparison groups and chosen by a design of analysis.pairwise.designs.
    pairwise_no_preference = models.BooleanField(
        'offer "no preference"',
        default=False,
        help_text="Pairwise: besides left and right, subjects may answer that neither is better.",
    )
    pairwise_grouping = models.CharField(
        "comparison groups",
        max_length=10,
        choices=PairGrouping.choices,
        default=PairGrouping.PROMPT,
        help_text="Pairwise: which images are compared with each other.",
    )
    pairwise_group_column = models.CharField(
        "group column",
        max_length=100,
        blank=True,
        help_text="Pairwise, by a manifest column: the column whose value names the group.",
    )
    pairwise_design = models.CharField(
        "pair design",
        max_length=10,
        choices=PairDesign.choices,
        default=PairDesign.VARIANCE,
        help_text="Pairwise: how the pairs of each new session are chosen.",
    )

    # Viewing conditions and the subject pages (see docs: subjects' flow).
    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        CHINESE_SIMPLIFIED = "zh-hans", "简体中文 (Simplified Chinese)"

    language = models.CharField(
        max_length=10,
        choices=Language.choices,
        default=Language.ENGLISH,
        help_text="Language of the subject pages; the consent and instructions text is "
        "shown as written.",
    )
    surround_grey = models.PositiveSmallIntegerField(
        default=128,
        validators=[MaxValueValidator(255)],
        help_text="Grey level 0-255 of the field around the images and the question panel "
        "(128 = mid-grey, as ITU-R BT.500 recommends).",
    )
    allow_small_screens = models.BooleanField(
        default=False,
        help_text="Let phones and tablets take part (stacked layout); off asks for a larger "
        "screen before consent.",
    )
    viewing_distance_text = models.TextField(
        blank=True,
        help_text="Shown on the display check, e.g. 'Sit about 60 cm (an arm's length) from "
        "the screen.'",
    )
    too_fast_ms = models.PositiveIntegerField(
        default=1000,
        help_text="Answers given faster than this (milliseconds after the image appeared) "
        "are flagged as too fast; 0 = never.",
    )
    # Which stimuli a new session gets: the least-rated ones (balanced, a fixed number of
    # ratings each), or those whose MOS is still least precise (adaptive; see
    # annotation.services.allocation and analysis.allocation).
    allocation = models.CharField(
        max_length=10, choices=Allocation.choices, default=Allocation.BALANCED
    )
    allocation_targets = models.JSONField(
        "precision targets",
        default=dict,
        blank=True,
        help_text="Adaptive: the CI half-width each dimension's MOS should reach, on the "
        'study\'s scale, e.g. {"quality": 5, "authenticity": 5}.',
    )
    allocation_min_ratings = models.PositiveIntegerField(
        "minimum ratings per stimulus",
        default=5,
        help_text="Adaptive: every stimulus gets at least this many ratings.",
    )
    allocation_max_ratings = models.PositiveIntegerField(
        "maximum ratings per stimulus",
        default=40,
        help_text="Adaptive: no stimulus gets more ratings than this.",
    )
    allocation_confidence = models.FloatField(
        "confidence level",
        default=0.95,
        help_text="Adaptive: confidence level of the target intervals.",
    )

    # Crowd recruitment (annotation.services.recruitment; docs: "Running on Prolific /
    # MTurk"): a public link that makes a subject per platform participant.
    class Platform(models.TextChoices):
        NONE = "", "No recruitment link (invites only)"
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "Amazon Mechanical Turk (external question)"
        GENERIC = "generic", "Another panel (a participant-ID parameter)"

    recruitment_platform = models.CharField(
        max_length=10, choices=Platform.choices, default=Platform.NONE, blank=True
    )
    # The public link's path part; unguessable, so a link cannot be found by counting.
    recruitment_key = models.CharField(max_length=43, blank=True, editable=False)
    participant_param = models.CharField(
        "participant-ID parameter",
        max_length=40,
        default="participant",
        blank=True,
        help_text="Another panel: the URL parameter that carries the participant's ID.",
    )
    completion_url = models.CharField(
        max_length=300,
        blank=True,
        help_text="Where a finished subject is sent; {code} is replaced by the code. Blank: "
        "Prolific's https://app.prolific.com/submissions/complete?cc={code} (Prolific), the "
        "code shown on the page (another panel). MTurk posts back to the HIT instead.",
    )
    completion_code_crowd = models.CharField("completion code", max_length=40, blank=True)
    screened_out_code = models.CharField(max_length=40, blank=True)
    quota_full_code = models.CharField(max_length=40, blank=True)
    quota_completed = models.PositiveIntegerField(
        "quota (completed subjects)",
        default=0,
        help_text="The link closes when this many recruited subjects have finished; 0 = no quota.",
    )
    idle_release_minutes = models.PositiveIntegerField(
        default=0,
        help_text="A recruited session silent this long is released: its trials not yet "
        "rated go back to the allocation; 0 = never.",
    )
    max_duration_minutes = models.PositiveIntegerField(
        "maximum duration (minutes)",
        default=0,
        help_text="A session running longer than this since consent ends with the timed-out "
        "code; its trials not yet rated go back to the allocation; 0 = no limit.",
    )
    timed_out_code = models.CharField(max_length=40, blank=True)
    # Quality control in the crowd toolkits' pattern (annotation.services.quality; docs:
    # "Quality gates"): a qualification on the training trials, traps and gold at a rate.
    qualification_enabled = models.BooleanField(
        "qualification step",
        default=False,
        help_text="The training trials become a qualification: answers must fall within the "
        "tolerance of the anchors' expected scores, or the subject is screened out.",
    )
    qualification_tolerance = models.FloatField(
        default=0,
        help_text="How far (on the study's scale) an answer may lie from the expected score; "
        "0 = 15% of the scale's range, at least one scale step.",
    )
    qualification_attempts = models.PositiveSmallIntegerField(
        default=2, help_text="Tries at the training block before a subject is screened out."
    )
    qualification_failed_code = models.CharField(
        max_length=40,
        blank=True,
        help_text="Given to a subject who failed the qualification; blank: the screened-out code.",
    )
    trap_every = models.PositiveIntegerField(
        "one trap per",
        default=0,
        help_text="One attention-check (trap) trial in every this many rating trials, at a "
        "random place in each block (the P.910 crowd toolkit: 10); 0 = none.",
    )
    gold_every = models.PositiveIntegerField(
        "one gold per",
        default=0,
        help_text="One gold trial in every this many rating trials, at a random place in each "
        "block; 0 = the fixed gold trials per session above.",
    )
    bonus_amount = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=0,
        help_text="The suggested bonus for an accepted subject whose gold answers are "
        "accurate (see the payment list's rule); 0 = no bonus.",
    )
    # Provenance for imported databases and, in the demo, the simulation's ground truth.
    metadata = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scale_max__gt=models.F("scale_min")), name="study_scale_max_above_min"
            ),
            models.CheckConstraint(condition=Q(scale_step__gte=0), name="study_scale_step_nonneg"),
            models.CheckConstraint(
                condition=Q(surround_grey__lte=255), name="study_surround_grey_8bit"
            ),
            models.UniqueConstraint(
                fields=["recruitment_key"],
                condition=~Q(recruitment_key=""),
                name="study_unique_recruitment_key",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Dimension(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="dimensions")
    key = models.SlugField(max_length=50)
    label = models.CharField(max_length=100)
    question = models.TextField()
    anchor_text = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["study", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="dimension_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.key}"


def stimulus_upload_to(instance: "Stimulus", filename: str) -> str:
    return f"studies/{instance.study_id}/stimuli/{filename}"


def reference_upload_to(instance: "Stimulus", filename: str) -> str:
    return f"studies/{instance.study_id}/references/{filename}"


class Stimulus(models.Model):
    class Role(models.TextChoices):
        NORMAL = "normal", "Normal"
        TRAINING = "training", "Training (anchor)"
        GOLD = "gold", "Gold (known answer)"
        # An attention check: its image (and prompt) says which answer to give; the
        # required answer is its expected_scores. Never analysed.
        TRAP = "trap", "Trap (attention check)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="stimuli")
    image = models.ImageField(
        upload_to=stimulus_upload_to, max_length=300, width_field="width", height_field="height"
    )
    sha256 = models.CharField(max_length=64)
    # A published database may list byte-identical files under different names, each rated
    # on its own: such a stimulus stores no file of its own and shares this one's.
    same_file_as = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.RESTRICT, related_name="file_sharers"
    )
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    file_size = models.PositiveBigIntegerField(default=0)
    original_name = models.CharField(max_length=300, blank=True)
    generator = models.CharField(max_length=100, blank=True, db_index=True)
    prompt = models.TextField(blank=True)
    reference_image = models.ImageField(upload_to=reference_upload_to, max_length=300, blank=True)
    prompt_group = models.CharField(max_length=100, blank=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.NORMAL)
    # Training stimuli: why this image deserves its anchor scores.
    explanation = models.TextField(blank=True)
    # Training and gold stimuli: the expected score per dimension key.
    expected_scores = models.JSONField(default=dict, blank=True)
    # Kept with its ratings, but no new subject's playlist includes it (a bulk action).
    excluded_from_playlists = models.BooleanField(default=False)
    # Non-training ratings of this stimulus. Kept by database triggers on the rating table
    # (migration 0009) in the transaction that writes or deletes the ratings, so progress
    # and the stimuli table never count 1.26 M rows; rated trials = this / dimensions.
    rating_tally = models.IntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "stimuli"
        ordering = ["study", "id"]
        constraints = [
            # One stored file per content; stimuli sharing it point at its owner.
            models.UniqueConstraint(
                fields=["study", "sha256"],
                condition=models.Q(same_file_as__isnull=True),
                name="stimulus_unique_content",
            ),
        ]
        indexes = [models.Index(fields=["study", "role"])]

    def __str__(self) -> str:
        return self.original_name or f"stimulus {self.pk}"

    @property
    def is_image_to_image(self) -> bool:
        return bool(self.reference_image)


class Subject(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="subjects")
    label = models.CharField(max_length=50)
    # sha256 of the invite token; the token itself is shown once, when the invite is made.
    token_hash = models.CharField(max_length=64, unique=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    demographics = models.JSONField(default=dict, blank=True)
    simulated = models.BooleanField(default=False)
    # Recruited through the study's link (annotation.services.recruitment): which platform,
    # and the participant's platform ID as a keyed hash (HMAC with SECRET_KEY), the one
    # identity used to find a returning participant.
    platform = models.CharField(max_length=10, blank=True)
    platform_id_hash = models.CharField(max_length=64, blank=True, editable=False)
    # The raw platform ID, kept only because the platform needs it to approve and pay: it
    # is read by the owner's payment list alone, never by exports, releases or the API.
    platform_participant_id = models.CharField(max_length=100, blank=True, editable=False)
    # Prolific SESSION_ID / MTurk assignmentId, and the HIT's turkSubmitTo (checked host).
    platform_session_id = models.CharField(max_length=100, blank=True, editable=False)
    platform_submit_to = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "label"], name="subject_unique_label"),
            # One subject per platform participant and study, whatever races.
            models.UniqueConstraint(
                fields=["study", "platform_id_hash"],
                condition=~Q(platform_id_hash=""),
                name="subject_unique_platform_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.label}"


class RatingSession(models.Model):
    subject = models.OneToOneField(Subject, on_delete=models.CASCADE, related_name="session")
    # Server-side trial list: [{"stimulus": id, "kind": "training"|"rating", "repeat": bool}].
    playlist = models.JSONField(default=list)
    cursor = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completion_code = models.CharField(max_length=32, blank=True)
    # Idle past the study's idle_release_minutes: the trials not yet rated were handed back
    # to the allocation (the playlist was cut at the cursor) and the session is over.
    released_at = models.DateTimeField(null=True, blank=True)

    # Why a session ended before completion (the playlist cut the same way as for idling).
    class Ended(models.TextChoices):
        NONE = "", "Not ended early"
        IDLE = "idle", "Idle too long"
        MAX_DURATION = "max_duration", "Past the maximum duration"
        QUALIFICATION = "qualification", "Failed the qualification"

    ended_reason = models.CharField(max_length=20, choices=Ended.choices, blank=True)
    # The display check before training: window and screen size, device pixel ratio,
    # fullscreen, grey steps confirmed, the viewing-distance text shown, and when.
    display_check = models.JSONField(default=dict, blank=True)
    # The session's non-training ratings and the largest id among them, kept by the rating
    # table's triggers (migration 0009): summed over a study's sessions they are the ratings
    # fingerprint that tells a cached analysis from a stale one. The session row is the one
    # a submission already locks, so keeping them adds no lock.
    rating_tally = models.IntegerField(default=0, editable=False)
    rating_last_id = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-started_at"]
        # A researcher pays a subject by completion code: the lookup must not scan.
        indexes = [models.Index(fields=["completion_code"], name="session_completion_code")]

    def __str__(self) -> str:
        return f"session of {self.subject}"

    @property
    def is_complete(self) -> bool:
        return self.completed_at is not None


class Rating(models.Model):
    session = models.ForeignKey(RatingSession, on_delete=models.CASCADE, related_name="ratings")
    stimulus = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="ratings")
    dimension = models.ForeignKey(Dimension, on_delete=models.PROTECT, related_name="ratings")
    score = models.FloatField()
    trial_index = models.PositiveIntegerField()
    is_repeat = models.BooleanField(default=False)
    # Not part of the data: a training or a trap trial (analysis, allocation and tallies
    # read is_training=False only).
    is_training = models.BooleanField(default=False)
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    # Answered faster than the study's too_fast_ms when it was stored.
    too_fast = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "trial_index", "dimension"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "trial_index", "dimension"],
                name="rating_unique_per_trial_dimension",
            ),
        ]
        indexes = [
            models.Index(fields=["stimulus", "dimension"]),
            # Progress and the stimuli table count rated trials per stimulus: an index-only
            # scan of this index instead of a pass over every rating row.
            models.Index(
                fields=["stimulus"], condition=Q(is_training=False), name="rating_stimulus_rated"
            ),
            # The per-subject report (times per trial, read on the study's first dimension)
            # and trials per hour: index-only scans of a third of the rows.
            models.Index(
                fields=["session", "dimension", "response_time_ms"],
                include=["created_at"],
                condition=Q(is_training=False),
                name="rating_session_trial_times",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stimulus_id}/{self.dimension_id}={self.score}"


class QualityCheck(models.Model):
    """Pass or fail of one qualification, trap or gold trial of a session.

    Written with the trial's ratings in the submission's transaction, one per trial, so the
    payment list and the report count them without re-scoring answers.
    """

    class Kind(models.TextChoices):
        QUALIFICATION = "qualification", "Qualification (training) trial"
        TRAP = "trap", "Trap (attention check)"
        GOLD = "gold", "Gold trial"

    session = models.ForeignKey(RatingSession, on_delete=models.CASCADE, related_name="checks")
    trial_index = models.PositiveIntegerField()
    kind = models.CharField(max_length=15, choices=Kind.choices)
    stimulus = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="checks")
    # Qualification: which try at the training block (1, 2, ...); 0 otherwise.
    attempt = models.PositiveSmallIntegerField(default=0)
    passed = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "trial_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "trial_index"], name="quality_check_unique_trial"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.trial_index} {self.kind}: {self.passed}"


class PairwiseChoice(models.Model):
    """One answer of a pairwise trial on one dimension: which of two shown images won.

    ``left`` and ``right`` are the stimuli as shown on screen; ``side`` records the side
    randomisation: where the pair's first stimulus, as the design served it, was shown.
    One row per (session, trial, dimension), as for ratings, so a replayed submit finds the
    stored row instead of writing a second one.
    """

    class Choice(models.TextChoices):
        LEFT = "left", "Left"
        RIGHT = "right", "Right"
        NONE = "none", "No preference"

    class Side(models.TextChoices):
        LEFT = "left", "Left"
        RIGHT = "right", "Right"

    class Stage(models.TextChoices):
        NORMAL = "normal", "Normal"
        # Training and gold pairs are the researcher's own (stimuli of those roles), with a
        # known answer: not data, so history, scaling and exports read stage="normal" only.
        TRAINING = "training", "Training"
        GOLD = "gold", "Gold"

    session = models.ForeignKey(
        RatingSession, on_delete=models.CASCADE, related_name="pair_choices"
    )
    dimension = models.ForeignKey(Dimension, on_delete=models.PROTECT, related_name="+")
    trial_index = models.PositiveIntegerField()
    group = models.CharField(max_length=200)
    left = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="+")
    right = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="+")
    choice = models.CharField(max_length=5, choices=Choice.choices)
    side = models.CharField(max_length=5, choices=Side.choices)
    is_repeat = models.BooleanField(default=False)
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    too_fast = models.BooleanField(default=False)
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.NORMAL)
    # Training and gold pairs: the side (as shown) that should win on this dimension.
    expected = models.CharField(max_length=5, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "trial_index", "dimension"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "trial_index", "dimension"],
                name="pair_choice_unique_per_trial_dimension",
            ),
            models.CheckConstraint(
                condition=~Q(left=models.F("right")), name="pair_choice_two_stimuli"
            ),
            models.CheckConstraint(
                condition=Q(choice__in=["left", "right", "none"]), name="pair_choice_value"
            ),
            models.CheckConstraint(
                condition=Q(side__in=["left", "right"]), name="pair_choice_side"
            ),
        ]
        indexes = [models.Index(fields=["dimension", "group"])]

    def __str__(self) -> str:
        return f"{self.left_id} vs {self.right_id}: {self.choice}"


class SessionHourTally(models.Model):
    """Rated trials of one session in one hour (UTC), kept by the rating table's triggers.

    A trial is counted by its row on the study's first dimension, as the per-subject report
    counts trials; a study's trials per hour sum a few rows per session.
    """

    session = models.ForeignKey(RatingSession, on_delete=models.CASCADE, related_name="hours")
    hour = models.DateTimeField()
    trials = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "hour"], name="session_hour_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}@{self.hour:%Y-%m-%d %H}: {self.trials}"


def release_dir(*, study_id: int, version: int) -> str:
    """Folder of a release's files in storage: the one spelling of the release path."""
    return f"releases/{study_id}/v{version}"


def release_upload_to(instance: "LabelRelease", filename: str) -> str:
    return f"{release_dir(study_id=instance.study_id, version=instance.version)}/{filename}"


class LabelRelease(models.Model):
    class Source(models.TextChoices):
        STUDY = "study", "Frozen from this study's ratings"
        EXTERNAL = "external", "Imported from a published database"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="releases")
    version = models.PositiveIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.STUDY)
    method_config = models.JSONField(default=dict)
    counts = models.JSONField(default=dict)
    mos_file = models.FileField(upload_to=release_upload_to, max_length=300)
    mos_sha256 = models.CharField(max_length=64)
    raw_file = models.FileField(upload_to=release_upload_to, max_length=300, blank=True)
    raw_sha256 = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # The dataset package (services.release_package): the frozen files above never change;
    # the package is built from them later, by a worker, with the researcher's licence,
    # citation and chosen demographic fields, and may be rebuilt with other choices.
    class PackageStatus(models.TextChoices):
        NONE = "", "Not packaged"
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Packaging"
        DONE = "done", "Packaged"
        FAILED = "failed", "Failed"

    licence = models.CharField(max_length=200, blank=True)
    citation = models.TextField(blank=True)
    package_status = models.CharField(
        max_length=10, choices=PackageStatus.choices, default=PackageStatus.NONE, blank=True
    )
    package_step = models.CharField(max_length=40, blank=True)
    package_progress = models.FloatField(default=0)
    package_error = models.TextField(blank=True)
    # {"demographics": [field, ...]}: what the researcher chose to include.
    package_options = models.JSONField(default=dict, blank=True)
    package_file = models.FileField(upload_to=release_upload_to, max_length=300, blank=True)
    package_sha256 = models.CharField(max_length=64, blank=True)
    package_size = models.PositiveBigIntegerField(default=0)
    packaged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="release_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug} v{self.version}"


class ImportJob(models.Model):
    """One image-set or external-database import, run by a Celery task with visible progress."""

    class Kind(models.TextChoices):
        MANIFEST = "manifest", "Manifest CSV + images"
        EXTERNAL = "external", "External database"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        VALIDATING = "validating", "Validating"
        WRITING = "writing", "Writing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed (nothing was written)"

    study = models.ForeignKey(
        Study, null=True, blank=True, on_delete=models.CASCADE, related_name="import_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MANIFEST)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Where the uploaded files wait (outside MEDIA_ROOT) and what to do with them.
    options = models.JSONField(default=dict, blank=True)
    progress = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    # [{"row": n, "image": name, "message": why}, ...]: every problem found, not just the first.
    error_report = models.JSONField(default=list, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"


class AnalysisRun(models.Model):
    """One run of the analysis pipeline on a study's ratings, cached until new ratings arrive.

    The cache key is (study, options_hash, ratings fingerprint): the fingerprint is the
    number of non-training ratings and the largest rating id when the run read them, so a
    new rating (or a deleted one) makes every earlier run stale. A ``freeze`` run computes a
    label release instead and points at it when done.
    """

    class Kind(models.TextChoices):
        ANALYSIS = "analysis", "Analysis"
        FREEZE = "freeze", "Freeze a label release"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="analysis_runs")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ANALYSIS)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The site's options (services.analysis_options.AnalysisOptions, as a dict) and their hash.
    options = models.JSONField(default=dict)
    options_hash = models.CharField(max_length=64)
    ratings_count = models.PositiveIntegerField(default=0)
    ratings_last_id = models.PositiveBigIntegerField(default=0)
    step = models.CharField(max_length=40, blank=True)
    progress = models.FloatField(default=0)
    # [{"step": name, "at": seconds since start}, ...]: what the progress bar went through.
    log = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # Small digest for the page (counts, screening decisions, reliability) ...
    summary = models.JSONField(default=dict, blank=True)
    # ... and the bulky part (MOS table, figures) that only the result endpoint reads.
    payload = models.JSONField(default=dict, blank=True)
    release = models.ForeignKey(
        LabelRelease, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["study", "kind", "options_hash"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} of {self.study_id} ({self.status})"


class ApiToken(models.Model):
    """A researcher's personal API token: only its sha256 is stored; the token is shown once.

    The API accepts it as ``Authorization: Token <token>`` or ``Bearer <token>`` and acts
    with the owner's permissions, narrowed by its scope: a read-only token may only read
    (GET, HEAD, OPTIONS). Revoking keeps the row (name, last use) for the record.
    """

    class Scope(models.TextChoices):
        READ = "read", "read only"
        WRITE = "write", "read and write"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    # The first characters of the token, so its owner can tell tokens apart.
    prefix = models.CharField(max_length=12)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def may_write(self) -> bool:
        return self.scope == self.Scope.WRITE
