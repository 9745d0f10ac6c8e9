"""How fast the gallery opens: with 10,000 images, open the index and list its first page of thumbnails.

Run with ``python tests/benchmarks/bench_history.py [--items N] [--page N]``; it prints the figures. The
first run builds the folder and the index in a temporary directory (a minute or so); the measured part is a
fresh ``History`` (including its check for files added or removed behind its back) plus one page of
cached thumbnails, as the app does at start-up. The target is under 200 ms.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from wuerstchen_desktop.core.imagefile.record import ImageRecord, encode_latent
from wuerstchen_desktop.core.imagefile.write import encode_image
from wuerstchen_desktop.core.library.history import History
from wuerstchen_desktop.core.library.naming import DEFAULT_PATTERN, file_stem
from wuerstchen_desktop.core.params import GenerationParams

WORDS = ["cat", "dog", "castle", "forest", "neon", "city", "portrait", "sunset", "ocean", "robot"]


def build_folder(out: Path, count: int) -> None:
    """Real image files with real metadata (written directly: the writer's fsync is not what is measured)."""
    rng = np.random.default_rng(0)
    pixels = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    latent = encode_latent(rng.normal(size=(16, 24, 24)))
    for i in range(count):
        prompt = " ".join(rng.choice(WORDS, 4))
        when = 1_700_000_000 + i * 60
        created = datetime.fromtimestamp(when).astimezone().isoformat()
        record = ImageRecord(GenerationParams(prompt, seed=i), latent=latent, created=created)
        stem = file_stem(DEFAULT_PATTERN, record.params, when)
        path = out / f"{stem}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_image(pixels, record, "png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=60, help="thumbnails on the first page")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out, index = Path(tmp) / "out", Path(tmp) / "index.sqlite3"
        started = time.perf_counter()
        build_folder(out, args.items)
        print(f"wrote {args.items} images in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        with History(out, index) as history:
            print(f"built the index by scanning in {time.perf_counter() - started:.1f} s")
            for item in history.items(limit=args.page):
                history.thumbnail(item.id, 256, scale=2.0)  # warm the cache, as the first launch does
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            with History(out, index) as history:
                thumbs = [history.thumbnail(i.id, 256, scale=2.0) for i in history.items(limit=args.page)]
                total = history.count()
            timings.append((time.perf_counter() - started) * 1000)
            assert total == args.items and len(thumbs) == args.page
        started = time.perf_counter()
        with History(out, index, sync=False) as history:
            opened = time.perf_counter()
            history.sync()
            synced = time.perf_counter()
        print(f"of which: open {1000 * (opened - started):.0f} ms, rescan {1000 * (synced - opened):.0f} ms")
        best, median = min(timings), sorted(timings)[len(timings) // 2]
        print(
            f"open + first page of {args.page} thumbnails with {args.items} items: "
            f"median {median:.0f} ms, best {best:.0f} ms (target < 200 ms)"
        )


if __name__ == "__main__":
    main()
