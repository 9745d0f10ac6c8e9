"""How a file stores a Stage C latent: float16, or float32 when a value lies beyond float16's range.

One rule for the image files (``imagefile/record.encode_latent``) and for the engine, which decodes a
composition from the latent as its file stores it, so an image decoded from a composition file is the
image made from the same parameters in one go.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT16_MAX = 65504.0


def storage_dtype(latent: Any) -> type[np.floating[Any]]:
    """``np.float16``, or ``np.float32`` when a finite value of ``latent`` would overflow float16 (it would be
    stored as inf)."""
    arr = np.asarray(latent, dtype=np.float32)
    finite = np.abs(arr[np.isfinite(arr)])
    return np.float32 if finite.size and finite.max() > FLOAT16_MAX else np.float16


def as_stored(latent: Any) -> np.ndarray:
    """One latent as its file stores it, in float32: rounded to float16 unless ``storage_dtype`` keeps it."""
    arr = np.asarray(latent, dtype=np.float32)
    return arr.astype(storage_dtype(arr)).astype(np.float32)
