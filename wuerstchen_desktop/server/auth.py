"""Who may use the server: anyone on this computer when it listens on loopback; otherwise only clients
that send the token from the app's data folder as ``Authorization: Bearer``."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import stat
from pathlib import Path

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.errors import ServerError

TOKEN_BYTES = 32


def is_loopback(host: str) -> bool:
    """True for addresses only this computer reaches (127.0.0.0/8, ::1, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def load_or_create_token(path: Path) -> str:
    """The token in ``path``; made on first use, readable and writable by the owner only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
                os.chmod(path, 0o600)  # someone widened it: the token is for its owner alone
            token = path.read_text(encoding="ascii").strip()
        else:
            token = secrets.token_urlsafe(TOKEN_BYTES)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(token + "\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ServerError(
            f"The server's token file {path} cannot be used: {exc}.",
            "Delete it and start the server again to make a new token.",
        ) from exc
    if len(token) < 16:
        raise ServerError(
            f"The server's token in {path} is too short to be safe.",
            "Delete the file and start the server again to make a new token.",
        )
    return token


def token_for(host: str) -> str | None:
    """None when ``host`` is loopback; else the token every request must carry."""
    return None if is_loopback(host) else load_or_create_token(appdirs.server_token_file())


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (always, when there is none to carry)."""
    if token is None:
        return True
    scheme, _, sent = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(sent.strip().encode(), token.encode())
