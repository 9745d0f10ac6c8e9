"""The frozen ``GenerationParams``: the whole truth about one job."""

from __future__ import annotations

import dataclasses
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wuerstchen_desktop.core.engine.prompt_weights import A1111, NONE, WEIGHTINGS, weighting_problem
from wuerstchen_desktop.core.errors import InvalidParams

SIZE_STEP = 128
MIN_SIZE = 256
MAX_SIZE = 2048
MAX_SEED = 2**63 - 1
MAX_IMAGES = 16
RANDOM_SEEDS = 2**32  # random seeds stay below this: short to type and share, as other tools' are
MAX_PRIOR_STEPS = 200
MAX_DECODER_STEPS = 100
MAX_GUIDANCE = 30.0
UPSCALE_FACTORS = (1, 2)  # 2: Upscale 2x, Stage B at twice the composition's size
UPSCALE_LARGEST = MAX_SIZE // 2  # the widest or tallest picture whose double Würstchen still makes
DEFAULT_STRENGTH = 0.5  # image-to-image: the picture's composition kept, its details redrawn
DEFAULT_UPSCALE_STRENGTH = 0.4  # see the README: detail redrawn, shapes and colours kept
MAX_SOURCE_SIDE = 1 << 20  # a picture's recorded width or height, far beyond any readable file

DEFAULT_PRIOR_REPO = "warp-ai/wuerstchen-prior"
DEFAULT_DECODER_REPO = "warp-ai/wuerstchen"
# The published Stage C variants: (repository, what an artist sees).
PRIOR_VARIANTS = (
    (DEFAULT_PRIOR_REPO, "Interpolated (default)"),
    ("warp-ai/wuerstchen-prior-model-finetuned", "Finetuned (aesthetic)"),
    ("warp-ai/wuerstchen-prior-model-base", "Base"),
)


RESOLUTION_MULTIPLE = 42.67  # image pixels per Stage C latent cell, from the prior's model_index.json
ASPECT_RATIOS = {
    "1:1": 1.0,
    "4:3": 4 / 3,
    "3:4": 3 / 4,
    "3:2": 3 / 2,
    "2:3": 2 / 3,
    "16:9": 16 / 9,
    "9:16": 9 / 16,
}


def size_for_aspect(ratio: float, area: int = 1024 * 1024, largest: int = MAX_SIZE) -> tuple[int, int]:
    """The valid (width, height) closest to ``ratio`` with about ``area`` pixels, no side over ``largest``."""
    sizes = range(MIN_SIZE, largest + 1, SIZE_STEP)

    def cost(wh: tuple[int, int]) -> float:
        w, h = wh
        return abs(math.log(w / h / ratio)) * 10 + abs(math.log(w * h / area))

    return min(((w, h) for w in sizes for h in sizes), key=cost)


def stage_c_size(width: int, height: int, multiple: float = RESOLUTION_MULTIPLE) -> tuple[int, int]:
    """(height, width) of the Stage C latent that composes a ``width`` x ``height`` image, rows first as
    in a tensor: 24x24 at 1024x1024. ``multiple`` is the prior's ``resolution_multiple``."""
    return math.ceil(height / multiple), math.ceil(width / multiple)


def nearest_valid_sizes(value: int) -> tuple[int, ...]:
    """The valid sizes closest to ``value``: one if it is outside the range, else the two neighbours."""
    if value <= MIN_SIZE:
        return (MIN_SIZE,)
    if value >= MAX_SIZE:
        return (MAX_SIZE,)
    below = value // SIZE_STEP * SIZE_STEP
    return (max(below, MIN_SIZE), min(below + SIZE_STEP, MAX_SIZE))


_SURROGATE = re.compile("[\ud800-\udfff]")
_SHA256 = re.compile("[0-9a-f]{64}")
REPLACEMENT = "\ufffd"


def valid_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD. Python turns bytes that are not UTF-8 (a
    command-line argument from a terminal in another encoding, say) into surrogates, which no tokenizer
    and no UTF-8 file accepts."""
    return _SURROGATE.sub(REPLACEMENT, text)


def replaced_text_notes(jobs: Sequence[GenerationParams]) -> list[str]:
    """A note for each prompt that holds U+FFFD, the mark ``valid_text`` leaves where text was not valid."""
    notes = []
    for job in jobs:
        for name, text in (("prompt", job.prompt), ("negative prompt", job.negative_prompt)):
            if REPLACEMENT in text:
                notes.append(
                    f"The {name} held bytes that are not valid text, replaced with {REPLACEMENT} (the first "
                    f"at character {text.index(REPLACEMENT) + 1}); set your terminal or file to UTF-8, or "
                    "retype those characters."
                )
    return list(dict.fromkeys(notes))


def _check_size(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParams(f"The {name} must be a whole number of pixels, not {value!r}.")
    if value % SIZE_STEP == 0 and MIN_SIZE <= value <= MAX_SIZE:
        return
    choices = " or ".join(str(v) for v in nearest_valid_sizes(value))
    raise InvalidParams(
        f"The {name} {value} is not supported: Würstchen needs a multiple of {SIZE_STEP} "
        f"from {MIN_SIZE} to {MAX_SIZE}.",
        f"Use {choices}.",
    )


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidParams(f"The {name} must be a whole number from {low} to {high}, not {value!r}.")


def _check_float(name: str, value: Any, low: float, high: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        raise InvalidParams(f"The {name} must be a number from {low:g} to {high:g}, not {value!r}.")


def random_seed() -> int:
    """A new random seed for a job; a job of ``MAX_IMAGES`` from it still ends at or below ``MAX_SEED``."""
    return secrets.randbelow(min(RANDOM_SEEDS, MAX_SEED - (MAX_IMAGES - 1) + 1))


@dataclass(frozen=True)
class GenerationParams:
    """Everything that determines a job's images.

    ``prior_steps=None`` means the official 29-call Stage C schedule; a number means that many uniform
    steps. Image ``i`` of a job uses seed ``seed + i``, so ``for_image(i)`` regenerates that image alone.
    Guidance is used only above 1 (classifier-free guidance), as in the reference.
    """

    prompt: str
    negative_prompt: str = ""
    width: int = 1024
    height: int = 1024
    seed: int = 0
    images: int = 1
    prior_steps: int | None = None
    prior_guidance: float = 4.0
    decoder_steps: int = 12
    decoder_guidance: float = 0.0
    # None: Stage B continues image i's generator after Stage C (as the reference does). A number: Stage B
    # draws from its own generator seeded decoder_seed + i, over the same composition ("vary detail").
    decoder_seed: int | None = None
    # Image-to-image: below 1, Stage C starts from the picture in the file whose sha256 is ``source``,
    # noised to this strength; 1 starts from noise alone (text to image).
    strength: float = 1.0
    source: str | None = None
    # The source picture's width and height as a person sees it, recorded with ``source``.
    source_width: int | None = None
    source_height: int | None = None
    # 2: Upscale 2x. Stage B draws the image at ``width`` x ``height`` from the composition of the source,
    # made at half that size, started from the source's pixels enlarged and noised to ``strength``.
    upscale: int = 1
    # The prompt as written, when it holds wildcards; ``prompt`` is what it expanded to for ``seed``.
    prompt_template: str | None = None
    # How the prompts' brackets read: "a1111" weights (word:1.2) as A1111 does; "none" reads them as plain
    # text, as every record written before weighting existed did (from_dict gives those "none").
    weighting: str = A1111

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise InvalidParams(f"The prompt must be text, not {type(self.prompt).__name__}.")
        if not isinstance(self.negative_prompt, str):
            raise InvalidParams(
                f"The negative prompt must be text, not {type(self.negative_prompt).__name__}."
            )
        # Repaired, not refused: a record read back from a file stays readable, and is the same record.
        object.__setattr__(self, "prompt", valid_text(self.prompt))
        object.__setattr__(self, "negative_prompt", valid_text(self.negative_prompt))
        if self.prompt_template is not None:
            if not isinstance(self.prompt_template, str):
                raise InvalidParams(f"The prompt template must be text, not {self.prompt_template!r}.")
            object.__setattr__(self, "prompt_template", valid_text(self.prompt_template))
        _check_size("width", self.width)
        _check_size("height", self.height)
        _check_int("number of images", self.images, 1, MAX_IMAGES)
        _check_int("seed", self.seed, 0, MAX_SEED - (self.images - 1) if isinstance(self.images, int) else 0)
        if self.prior_steps is not None:
            _check_int("number of prior steps", self.prior_steps, 1, MAX_PRIOR_STEPS)
        _check_int("number of decoder steps", self.decoder_steps, 1, MAX_DECODER_STEPS)
        _check_float("prior guidance", self.prior_guidance, 0.0, MAX_GUIDANCE)
        _check_float("decoder guidance", self.decoder_guidance, 0.0, MAX_GUIDANCE)
        if self.decoder_seed is not None:
            _check_int("decoder seed", self.decoder_seed, 0, MAX_SEED - (self.images - 1))
        _check_float("strength", self.strength, 0.0, 1.0)
        if self.strength == 0:
            raise InvalidParams("A strength of 0 would change nothing.", "Choose a strength above 0.")
        if self.source is not None and not (isinstance(self.source, str) and _SHA256.fullmatch(self.source)):
            raise InvalidParams("The source picture's sha256 is not 64 hexadecimal digits.")
        self._check_source()
        if self.weighting not in WEIGHTINGS:
            raise InvalidParams(
                f"The prompt weighting must be one of {', '.join(WEIGHTINGS)}, not {self.weighting!r}."
            )
        for text in (self.prompt, self.negative_prompt):
            problem = weighting_problem(text, self.weighting)
            if problem:
                raise InvalidParams(*problem)

    def _check_source(self) -> None:
        u = self.upscale
        if not isinstance(u, int) or isinstance(u, bool) or u not in UPSCALE_FACTORS:
            raise InvalidParams(f"The upscale factor must be 1 or 2, not {self.upscale!r}.")
        if self.upscale > 1:
            if self.source is None:
                raise InvalidParams("Upscaling needs the picture it upscales.", "Give the picture.")
            for name, value in (("width", self.width), ("height", self.height)):
                if value % (SIZE_STEP * self.upscale) or value < MIN_SIZE * self.upscale:
                    raise InvalidParams(
                        f"The {name} {value} is not twice a size Würstchen makes.",
                        f"Upscale a picture whose {name} is a multiple of {SIZE_STEP} from {MIN_SIZE} to "
                        f"{MAX_SIZE // self.upscale}.",
                    )
        elif (self.strength < 1) != (self.source is not None):
            raise InvalidParams(
                "A strength below 1 goes with the picture it starts from, and only then.",
                "Start from a picture with a strength below 1, or from text with strength 1.",
            )
        sizes = (self.source_width, self.source_height)
        if sizes != (None, None):
            if self.source is None:
                raise InvalidParams("A source picture's size goes with its sha256.")
            _check_int("source picture's width", self.source_width, 1, MAX_SOURCE_SIDE)
            _check_int("source picture's height", self.source_height, 1, MAX_SOURCE_SIDE)

    def for_image(self, index: int) -> GenerationParams:
        """The parameters that regenerate image ``index`` of this job on its own."""
        if not 0 <= index < self.images:
            raise IndexError(f"image {index} of a job of {self.images}")
        decoder_seed = None if self.decoder_seed is None else self.decoder_seed + index
        return dataclasses.replace(self, seed=self.seed + index, images=1, decoder_seed=decoder_seed)

    def replace(self, **changes: Any) -> GenerationParams:
        return dataclasses.replace(self, **changes)

    def per_image(self) -> list[GenerationParams]:
        """One job per image: each regenerates its image alone (``for_image``)."""
        return [self.for_image(i) for i in range(self.images)]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in FROM_TEXT:  # a text-to-image record stays as it always was
            if data[name] == FROM_TEXT[name]:
                del data[name]
        if data["prompt_template"] is None:  # a prompt without wildcards: the record as it always was
            del data["prompt_template"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationParams:
        """Build from a dict, refusing unknown keys so a damaged record is noticed, not half-used."""
        if not isinstance(data, dict):
            raise InvalidParams("The stored parameters are not a JSON object.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidParams(f"Unknown parameter(s): {', '.join(unknown)}.")
        try:
            return cls(**{"weighting": NONE, **data})
        except TypeError as exc:  # a required field is missing
            raise InvalidParams(f"Incomplete parameters: {exc}.") from exc


BATCH_SHARED = (
    "width",
    "height",
    "prior_steps",
    "prior_guidance",
    "decoder_steps",
    "decoder_guidance",
    "strength",
    "source",
    "source_width",
    "source_height",
    "upscale",
)
# The fields of image-to-image and upscaling at their text-to-image values, which records leave out.
FROM_TEXT: dict[str, Any] = {
    "strength": 1.0,
    "source": None,
    "source_width": None,
    "source_height": None,
    "upscale": 1,
}


def composition_job(params: GenerationParams) -> GenerationParams:
    """The text-to-image job behind an upscale: its composition's size, from text, no source."""
    if params.upscale == 1:
        return params
    width, height = composition_size(params)
    return params.replace(width=width, height=height, decoder_seed=None, **FROM_TEXT)


def composition_size(params: GenerationParams) -> tuple[int, int]:
    """(width, height) of the image a job's composition is made for: its size, or for an upscale the
    source's size, half of it."""
    return params.width // params.upscale, params.height // params.upscale


def as_batch(jobs: GenerationParams | Sequence[GenerationParams]) -> list[GenerationParams]:
    """Jobs that run as one batch: at least one, all sharing size, steps and guidance (``BATCH_SHARED``)."""
    batch = [jobs] if isinstance(jobs, GenerationParams) else list(jobs)
    if not batch:
        raise InvalidParams("Nothing to generate.")
    for job in batch[1:]:
        for name in BATCH_SHARED:
            if getattr(job, name) != getattr(batch[0], name):
                raise InvalidParams(
                    f"Prompts generated together must share their {name.replace('_', ' ')}.",
                    "Run them as separate jobs.",
                )
    return batch


def per_image(jobs: Sequence[GenerationParams]) -> list[GenerationParams]:
    """Every image of ``jobs`` in prompt-major order, each as the job that makes it alone."""
    return [p for job in jobs for p in job.per_image()]
