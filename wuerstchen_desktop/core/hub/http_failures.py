"""How a failed request to the Hub or a mirror is told to the user, or waited out and tried again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from wuerstchen_desktop.core.errors import Cancelled, DownloadError
from wuerstchen_desktop.core.hub import server_checks

log = logging.getLogger(__name__)

FOLDER_HINT = "Or use a folder you already have: pass it with --prior/--decoder, or import it in the app."
RETRY_HINT = "Check the connection and proxy settings and try again: the download continues where it stopped."
UNSAFE_HINT = "This server cannot be trusted with your disk: check HF_ENDPOINT. " + FOLDER_HINT
SPACE_HINT = "Free some space, or set HF_HUB_CACHE (or HF_HOME) to a disk with more room, and try again."
MAX_WAIT_S = 300.0  # the longest a server's Retry-After is waited for, per try


class Stalled(Exception):
    """The server sent nothing for the stall timeout; retried like a dropped connection.

    Not a WuerstchenError: it is retried, and a DownloadError words the last failure."""


class Truncated(Exception):
    """An answer that does not fit the file (it ended early, or began at the wrong byte); retried like a
    dropped connection.

    Not a WuerstchenError: it is retried, and a DownloadError words the last failure."""


def clear_error(exc: Exception, what: str) -> DownloadError | None:
    """A clear error for a failure that retrying will not fix; None for a transient one."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, OfflineModeIsEnabled):
        return DownloadError(
            f"Cannot download {what}: offline mode is on (HF_HUB_OFFLINE).",
            "Unset HF_HUB_OFFLINE to download. " + FOLDER_HINT,
        )
    if isinstance(exc, GatedRepoError) or (
        isinstance(exc, HfHubHTTPError)
        and exc.response is not None
        and exc.response.status_code in (401, 403)
    ):
        return DownloadError(
            f"The server refused access to {what}.",
            "If this mirror needs a token, set HF_TOKEN or run `hf auth login`. " + FOLDER_HINT,
        )
    if isinstance(exc, (RepositoryNotFoundError, RevisionNotFoundError)) or (
        isinstance(exc, HfHubHTTPError) and exc.response is not None and exc.response.status_code == 404
    ):
        return DownloadError(
            f"{what} was not found on the server (HTTP 404).",
            "Check the repository name and HF_ENDPOINT. " + FOLDER_HINT,
        )
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        code = exc.response.status_code
        if code in (408, 429) or code >= 500:
            return None
        return DownloadError(f"The server answered HTTP {code} for {what}.", RETRY_HINT)
    return None


def transient(exc: Exception) -> bool:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    return isinstance(exc, (httpx2.TransportError, HfHubHTTPError, Stalled, Truncated)) and not isinstance(
        exc, httpx2.ProxyError
    )


def server_wait(exc: Exception) -> tuple[int, float] | None:
    """``(status, seconds)`` when a 429 or 503 answer says how long to wait in ``Retry-After``."""
    from huggingface_hub.errors import HfHubHTTPError

    response = exc.response if isinstance(exc, HfHubHTTPError) else None
    if response is None or response.status_code not in (429, 503):
        return None
    seconds = server_checks.retry_after(response.headers)
    return None if seconds is None else (response.status_code, seconds)


def short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Retry:
    """Backoff between attempts, or what the server asks for; an attempt that made progress resets the count.

    ``notify`` hears, in a sentence, why and how long it waits when the server asked for the wait.
    """

    def __init__(
        self,
        retries: int,
        backoff: float,
        cancelled: Callable[[], bool],
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.retries, self.backoff, self.cancelled, self.notify = retries, backoff, cancelled, notify
        self.failures = 0

    def failed(self, exc: Exception, what: str) -> None:
        """Wait before the next attempt, or raise the error the user sees."""
        clear = clear_error(exc, what)
        if clear is not None:
            raise clear from exc
        if not transient(exc):
            raise exc
        self.failures += 1
        if self.failures > self.retries:
            raise DownloadError(
                f"Could not download {what} after {self.retries + 1} tries: {short(exc)}.",
                RETRY_HINT + " " + FOLDER_HINT,
            ) from exc
        delay = min(self.backoff * 2 ** (self.failures - 1), 30.0)
        asked = server_wait(exc)
        if asked is not None:
            status, seconds = asked
            delay = max(delay, min(seconds, MAX_WAIT_S))
            note = (
                f"The server is busy (HTTP {status}) and asks to wait {seconds:g} s: "
                f"waiting {delay:g} s before trying again."
            )
            log.warning("%s: %s", what, note)
            if self.notify is not None:
                self.notify(note)
        else:
            log.warning("%s: %s; trying again in %.1f s", what, short(exc), delay)
        end = time.monotonic() + delay
        while time.monotonic() < end:
            if self.cancelled():
                raise Cancelled()
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
