"""Draw the app icon at 1024 px and write every size the three platforms want into resources/icons/.

    python packaging/make_icons.py

Only Pillow is needed. The picture: a sausage on a warm, rounded tile, with a small spark for the
generated image. It is drawn at twice the size and scaled down, which smooths every edge.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "resources" / "icons"
NAME = "wuerstchen-desktop"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
S = 2048  # drawing size; the master is S // 2


def _vertical_gradient(size: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    column = Image.new("RGB", (1, size))
    for y in range(size):
        t = y / (size - 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    return column.resize((size, size))


def _rounded_mask(size: int, box: tuple[int, int, int, int], radius: int) -> Image.Image:
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle(box, radius=radius, fill=255)
    return mask


def _capsule(size: int, angle: float, length: int, thickness: int) -> Image.Image:
    """A mask of a capsule centred on the canvas, turned by ``angle`` degrees."""
    mask = Image.new("L", (size, size), 0)
    c = size // 2
    box = (c - length // 2, c - thickness // 2, c + length // 2, c + thickness // 2)
    ImageDraw.Draw(mask).rounded_rectangle(box, radius=thickness // 2, fill=255)
    return mask.rotate(angle, resample=Image.Resampling.BICUBIC)


def draw_master() -> Image.Image:
    margin = S * 100 // 1024  # macOS leaves this much air around the tile
    tile = (margin, margin, S - margin, S - margin)
    icon = Image.new("RGBA", (S, S), (0, 0, 0, 0))

    # Soft shadow under the tile.
    shadow = _rounded_mask(S, (tile[0], tile[1] + S // 64, tile[2], tile[3] + S // 64), S * 185 // 1024)
    shadow = shadow.filter(ImageFilter.GaussianBlur(S // 80))
    icon.paste((40, 20, 10, 110), (0, 0), shadow)

    background = _vertical_gradient(S, (255, 214, 140), (236, 128, 62))
    icon.paste(background, (0, 0), _rounded_mask(S, tile, S * 185 // 1024))

    angle, length, thickness = 35.0, S * 62 // 100, S * 22 // 100
    body = _capsule(S, angle, length, thickness)
    sausage = _vertical_gradient(S, (196, 84, 52), (120, 40, 28))
    # A darker rim, then the body, then a highlight along the upper edge.
    rim = body.filter(ImageFilter.MaxFilter(9))
    icon.paste((92, 30, 20, 255), (0, 0), rim)
    icon.paste(sausage, (0, 0), body)
    highlight = _capsule(S, angle, length * 78 // 100, thickness * 22 // 100)
    highlight = ImageChops.offset(highlight, -S * 22 // 1000, -S * 32 // 1000)
    highlight = highlight.filter(ImageFilter.GaussianBlur(S // 200))
    icon.paste((255, 196, 160, 255), (0, 0), ImageChops.multiply(highlight, Image.new("L", (S, S), 150)))

    # Mustard line along the sausage.
    line = Image.new("L", (S, S), 0)
    c, half = S // 2, length * 34 // 100
    points = [(c - half + i * (2 * half) // 6, c + (S // 40 if i % 2 else -S // 40)) for i in range(7)]
    ImageDraw.Draw(line).line(points, fill=255, width=S // 55, joint="curve")
    line = line.rotate(angle, resample=Image.Resampling.BICUBIC)
    icon.paste((255, 206, 64, 255), (0, 0), ImageChops.multiply(line, body))

    # The spark: a four-pointed star in the upper left.
    star = Image.new("L", (S, S), 0)
    cx, cy, r, w = S * 300 // 1000, S * 300 // 1000, S * 95 // 1000, S * 22 // 1000
    ImageDraw.Draw(star).polygon(
        [(cx, cy - r), (cx + w, cy - w), (cx + r, cy), (cx + w, cy + w), (cx, cy + r), (cx - w, cy + w),
         (cx - r, cy), (cx - w, cy - w)],
        fill=255,
    )  # fmt: skip
    icon.paste((255, 252, 240, 255), (0, 0), star)
    return icon.resize((S // 2, S // 2), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    master = draw_master()
    for size in PNG_SIZES:
        master.resize((size, size), Image.Resampling.LANCZOS).save(OUT / f"{NAME}-{size}.png", optimize=True)
    master.resize((256, 256), Image.Resampling.LANCZOS).save(OUT / f"{NAME}.png", optimize=True)
    master.save(OUT / f"{NAME}.ico", sizes=[(s, s) for s in ICO_SIZES])
    master.save(OUT / f"{NAME}.icns")  # Pillow writes every icns size from the 1024 px master
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
