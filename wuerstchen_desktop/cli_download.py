"""The command line's downloads: the checkpoints (size and free space first, then a bar), the image encoder's
weights (only their bytes, out of a training checkpoint), and what is on disk."""

from __future__ import annotations

import sys
from pathlib import Path

from wuerstchen_desktop.cli_output import DownloadBar, say


def fetch_checkpoints(prior: str, decoder: str, offline: bool, verify: bool, optional: bool = False) -> None:
    """Download what the prior and decoder need, saying the size and free space first and showing a bar.

    ``verify`` also checks complete files not yet verified (another tool's download); otherwise only
    missing files are fetched. ``optional`` adds the live-preview model when it is not on disk; if it
    cannot be fetched, a warning says so and the rest goes on. Offline, nothing is fetched: the loaders
    then say what is missing.
    """
    from wuerstchen_desktop.core.engine.checkpoints import REPO_ID
    from wuerstchen_desktop.core.hub import cache_layout
    from wuerstchen_desktop.core.hub.catalogue import OPTIONAL, repos_needed
    from wuerstchen_desktop.core.hub.download import download, plan

    repos = [
        r for r in repos_needed(prior, decoder) if REPO_ID.match(r) and not Path(r).expanduser().exists()
    ]
    todo = [
        r
        for r in repos
        if not (cache_layout.local_status(r).verified if verify else cache_layout.local_status(r).complete)
    ]
    extras = [
        e.repo_id
        for e in OPTIONAL.values()
        if optional and not cache_layout.local_status(e.repo_id, repo_type=e.repo_type).complete
    ]
    if (todo or extras) and not offline:
        the_plan = plan(todo, optional=extras)
        if the_plan.repos:
            print(the_plan.describe(), file=sys.stderr, flush=True)
            download(the_plan, on_progress=DownloadBar(sys.stderr))
        for warning in the_plan.warnings:
            print(f"Warning: {warning}", file=sys.stderr, flush=True)


def fetch_encoder() -> None:
    """The image encoder's weights, unless they are on this computer: only their bytes of the Stage B
    training checkpoint they are published in, checked name by name and shape by shape, with a bar."""
    from wuerstchen_desktop.core.engine.encoder_weights import (
        ByteProgress,
        fetch_encoder_weights,
        find_encoder_weights,
        plan_encoder,
    )
    from wuerstchen_desktop.core.engine.image_encoder import check_shapes
    from wuerstchen_desktop.core.hub.lean_fetch import EFFNET_FILE, EFFNET_REPO
    from wuerstchen_desktop.core.hub.units import human

    found = find_encoder_weights()
    if found is None:
        source = Path(f"{EFFNET_REPO}/{EFFNET_FILE}")
        plan = plan_encoder()
        print(
            f"To download: the image encoder's weights, {human(plan.to_fetch)}, out of {source} "
            f"(not the whole file); free space in {plan.cache}: {human(plan.free)}.",
            file=sys.stderr,
            flush=True,
        )
        hint = "The published file is not the encoder this app knows; please report it."
        bar = ByteProgress(DownloadBar(sys.stderr), EFFNET_FILE, plan.to_fetch)
        found = fetch_encoder_weights(check=lambda shapes: check_shapes(shapes, source, hint), on_bytes=bar)
        bar.end()
    say(found)


def print_checkpoints() -> None:
    """Each catalogue repository: what is on disk, its size, and whether it was verified."""
    from wuerstchen_desktop.core.hub import cache_layout
    from wuerstchen_desktop.core.hub.catalogue import CATALOGUE, OPTIONAL
    from wuerstchen_desktop.core.hub.units import human

    print(f"Checkpoints in {cache_layout.cache_root()}:")
    for entry in [*CATALOGUE.values(), *OPTIONAL.values()]:
        st = cache_layout.local_status(entry.repo_id, repo_type=entry.repo_type)
        about = "" if entry.size_is_exact else "about "
        optional = entry.repo_id in OPTIONAL
        if st.complete:
            if st.verified:
                state = "verified"
            elif st.unverifiable:
                state = f"not verified: the server gave no checksum for {len(st.unverifiable)} file(s)"
            else:
                state = "not verified: run `wuerstchen-desktop download` to check"
            state = f"{human(st.size)}, {state}, commit {st.commit}"
        elif st.files or st.partial_bytes:
            state = f"partly downloaded: {human(st.size + st.partial_bytes)} of {about}{human(entry.size)}"
        else:
            state = f"not downloaded ({about}{human(entry.size)})"
            state += f": {entry.without}" if optional and entry.without else ""
        name = (
            f"{entry.repo_id} ({entry.repo_type}, optional, {entry.label.lower()})"
            if optional
            else entry.repo_id
        )
        print(f"  {name}: {state}")
