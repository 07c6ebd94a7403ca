"""factory_boy factories for the annotation domain; tests build what they need with these."""

import io

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image

from annotation.models import Dimension, Rating, RatingSession, Stimulus, Study, Subject
from annotation.services.subjects import token_hash


def jpeg_bytes(
    size: tuple[int, int] = (64, 48),
    colour: tuple[int, int, int] = (120, 80, 40),
    tag: str = "",
) -> bytes:
    """A plain JPEG; ``tag`` goes into its comment, so files of close colours (which JPEG
    may encode to the same bytes) still differ."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG", comment=tag.encode())
    return buffer.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = False

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or "pw-for-tests")
        if create:
            obj.save(update_fields=["password"])


class ResearcherFactory(UserFactory):
    is_staff = True


class AdminFactory(UserFactory):
    is_staff = True
    is_superuser = True


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    name = factory.Sequence(lambda n: f"Study {n}")
    slug = factory.Sequence(lambda n: f"study-{n}")
    owner = factory.SubFactory(ResearcherFactory)
    status = Study.Status.OPEN
    scale_min = 0
    scale_max = 100
    scale_step = 0


class DimensionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dimension

    study = factory.SubFactory(StudyFactory)
    key = factory.Sequence(lambda n: f"dim{n}")
    label = factory.LazyAttribute(lambda o: o.key.title())
    question = "How good is it?"
    order = factory.Sequence(int)


class StimulusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stimulus

    study = factory.SubFactory(StudyFactory)
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    image = factory.LazyAttribute(
        lambda o: ContentFile(
            # Distinct bytes for distinct sha256 values: splits join identical files.
            jpeg_bytes(colour=(int(o.sha256[-2:], 16), 90, 30), tag=o.sha256),
            name=f"{o.sha256[-8:]}.jpg",
        )
    )
    generator = "GenA"
    prompt = "a red fox in the snow"
    prompt_group = factory.Sequence(lambda n: f"p{n}")


class SubjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subject

    study = factory.SubFactory(StudyFactory)
    label = factory.Sequence(lambda n: f"S{n:04d}")
    token_hash = factory.Sequence(lambda n: token_hash(f"token-{n}"))


class RatingSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RatingSession

    subject = factory.SubFactory(SubjectFactory)
    playlist = factory.LazyFunction(list)


class RatingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rating

    session = factory.SubFactory(RatingSessionFactory)
    stimulus = factory.SubFactory(
        StimulusFactory, study=factory.SelfAttribute("..session.subject.study")
    )
    dimension = factory.SubFactory(
        DimensionFactory, study=factory.SelfAttribute("..session.subject.study")
    )
    score = 50.0
    trial_index = factory.Sequence(int)


def rated_study_create(
    *,
    subjects: int = 6,
    stimuli: int = 5,
    dimensions: tuple[str, ...] = ("quality", "authenticity"),
    owner=None,
    seed: int = 0,
) -> Study:
    """A study whose every subject rated every stimulus on every dimension (no training).

    Scores follow a true score per stimulus plus a subject bias and noise, so MOS, screening
    and the subject model have something real to find; images are real files in MEDIA_ROOT.
    """
    import numpy as np

    study = StudyFactory(**({"owner": owner} if owner is not None else {}))
    dims = [DimensionFactory(study=study, key=key, order=i) for i, key in enumerate(dimensions)]
    items = StimulusFactory.create_batch(stimuli, study=study)
    rng = np.random.default_rng(seed)
    truth = rng.uniform(20, 80, size=(stimuli, len(dims)))
    rows = []
    for _ in range(subjects):
        session = RatingSessionFactory(subject=SubjectFactory(study=study))
        bias = rng.normal(0, 5)
        for trial, stimulus in enumerate(items):
            for d, dimension in enumerate(dims):
                score = float(np.clip(truth[trial, d] + bias + rng.normal(0, 8), 0, 100))
                rows.append(
                    Rating(
                        session=session,
                        stimulus=stimulus,
                        dimension=dimension,
                        score=round(score, 1),
                        trial_index=trial,
                        response_time_ms=int(rng.integers(800, 5000)),
                    )
                )
    Rating.objects.bulk_create(rows)
    return study


def rating_add(*, study: Study, score: float = 42.0) -> Rating:
    """One more rating from a new subject: what arrives after a freeze or an analysis."""
    session = RatingSessionFactory(subject=SubjectFactory(study=study))
    return Rating.objects.create(
        session=session,
        stimulus=study.stimuli.order_by("id").first(),
        dimension=study.dimensions.order_by("order", "id").first(),
        score=score,
        trial_index=0,
    )
