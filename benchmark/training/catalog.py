"""Names and static facts the config needs, kept free of torch.

The Django app validates run configurations in web processes that must not pay for
importing torch, so everything a validator needs to know about backbones, model kinds
and split protocols lives here as plain data. ``backbones.py`` pairs each entry with
the code that builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The TensorFlow-trained Inception weights expect inputs scaled to [-1, 1].
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class BackboneInfo:
    """Static description of a feature extractor.

    ``weights_file`` is the file name torchvision / timm give the ImageNet weights in
    the torch hub cache; the hex after the last dash is the sha256 prefix they verify.
    ``hf_repo`` names timm's Hugging Face cache entry for the same weights, if any.
    """

    name: str
    input_size: int
    min_input_size: int
    feature_dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights_file: str | None = None
    weights_url: str | None = None
    hf_repo: str | None = None


BACKBONES: dict[str, BackboneInfo] = {}


def register_backbone_info(info: BackboneInfo) -> None:
    BACKBONES[info.name] = info


for _info in (
    BackboneInfo(
        "vgg16",
        224,
        32,
        512,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "vgg16-397923af.pth",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
    ),
    BackboneInfo(
        "vgg19",
        224,
        32,
        512,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "vgg19-dcbb9e9d.pth",
        "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    ),
    BackboneInfo(
        "resnet18",
        224,
        32,
        512,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "resnet18-f37072fd.pth",
        "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    ),
    BackboneInfo(
        "resnet50",
        224,
        32,
        2048,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "resnet50-0676ba61.pth",
        "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    ),
    # 75 px is the smallest input inception_v4's unpadded stride-2 stem accepts.
    BackboneInfo(
        "inception_v4",
        299,
        75,
        1536,
        INCEPTION_MEAN,
        INCEPTION_STD,
        "inceptionv4-8e4777a0.pth",
        None,
        "timm/inception_v4.tf_in1k",
    ),
):
    register_backbone_info(_info)

MODEL_KINDS = ("nr", "fr", "pscr")
SPLIT_PROTOCOLS = ("random", "cross_generator", "kfold", "fixed")
WEIGHTS_CHOICES = ("none", "imagenet")
LOSSES = ("mse", "l1")
SCHEDULERS = ("cosine", "none")
# Where batches come from (benchmark/training/batches.py); auto: resident when it fits.
DATA_PATHS = ("auto", "resident", "stream")
FR_FUSIONS = ("concat", "concat_diff")
