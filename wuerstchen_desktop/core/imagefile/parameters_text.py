"""The A1111-style ``parameters`` text: written for other tools (Civitai, SD Prompt Reader, A1111's PNG
Info), lossy, and read back from any tool's images the way A1111's PNG Info reads it."""

from __future__ import annotations

from wuerstchen_desktop.core.errors import NoParametersFound, ParametersTooLong
from wuerstchen_desktop.core.imagefile.a1111 import format_text, read_text, to_float, to_int, to_size
from wuerstchen_desktop.core.imagefile.record import (
    APP_NAME,
    OFFICIAL_PRIOR_CALLS,
    ImageParameters,
    ImageRecord,
)

SAMPLER_NAME = "Würstchen DDPM"
UPSCALER = "Lanczos"  # how Upscale 2x enlarges the picture before Stage B redraws its detail
# A1111-style text longer than this is not parsed (the README says so): far beyond any real prompt, and
# an EXIF UserComment holds at most about 32K characters anyway.
MAX_PARAMETERS_CHARS = 64 * 1024
_FREE = ("Blend prompt", "Wildcard prompt")  # settings that are prompts, shortened with them to fit EXIF


def _settings(record: ImageRecord) -> list[tuple[str, str]]:
    p = record.params
    steps = OFFICIAL_PRIOR_CALLS if p.prior_steps is None else p.prior_steps
    model = record.prior_model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or record.prior_model
    items = [
        ("Steps", str(steps)),
        ("Sampler", SAMPLER_NAME),
        ("CFG scale", repr(float(p.prior_guidance))),
        ("Seed", str(p.seed)),
        # As A1111 writes a hires result: the first pass's size, and the factor under "Hires upscale".
        ("Size", f"{p.width // p.upscale}x{p.height // p.upscale}"),
    ]
    if record.model_hash:
        items.append(("Model hash", record.model_hash[:10]))
    items += [
        ("Model", model),
        ("Decoder steps", str(p.decoder_steps)),
        ("Decoder CFG scale", repr(float(p.decoder_guidance))),
    ]
    if p.decoder_seed is not None:
        items.append(("Decoder seed", str(p.decoder_seed)))
    if p.source is not None:  # as A1111 writes image-to-image and hires, then the picture it started from
        items.append(("Denoising strength", repr(float(p.strength))))
        if p.upscale > 1:
            items += [("Hires upscale", str(p.upscale)), ("Hires upscaler", UPSCALER)]
        items.append(("Source sha256", p.source))
        if p.source_width is not None:
            items.append(("Source size", f"{p.source_width}x{p.source_height}"))
    if record.blend is not None:
        other = record.blend.other
        items += [("Blend seed", str(other.seed)), ("Blend weight", repr(float(record.blend.weight)))]
        if other.prompt != p.prompt:
            items.append(("Blend prompt", other.prompt))
    if p.prompt_template is not None:  # as A1111's wildcards extension writes the prompt as written
        items.append(("Wildcard prompt", p.prompt_template))
    if record.kind == "composition":
        items.append(("Composition", "not decoded"))
    return [*items, ("Version", f"{APP_NAME} {record.app_version}")]


def format_parameters(record: ImageRecord, max_utf16: int | None = None) -> str:
    """The A1111-style text: prompt lines, ``Negative prompt:`` (always), then one ``Steps:`` line.

    ``max_utf16`` bounds its length in UTF-16 code units (as EXIF stores it): see ``a1111.format_text``.
    """
    p = record.params
    return format_text(p.prompt, p.negative_prompt, _settings(record), _FREE, max_utf16)


def parse_parameters(text: str) -> ImageParameters:
    """Read A1111-style text (ours or another tool's) the way A1111's PNG Info does.

    A text over ``MAX_PARAMETERS_CHARS`` is refused with ``ParametersTooLong`` (see the README).
    """
    if len(text) > MAX_PARAMETERS_CHARS:
        raise ParametersTooLong(
            f"The parameters text is too long to read ({len(text):,} characters; the limit is "
            f"{MAX_PARAMETERS_CHARS:,}).",
            "Its image is fine; only its A1111-style parameters are not read.",
        )
    prompt, negative, found = read_text(text)
    if not found and negative is None:
        raise NoParametersFound("The text holds no generation parameters.")
    width, height = to_size(found.get("Size"))
    return ImageParameters(
        "a1111",
        prompt,
        negative or "",
        seed=to_int(found.get("Seed")),
        steps=to_int(found.get("Steps")),
        guidance=to_float(found.get("CFG scale")),
        width=width,
        height=height,
    )
