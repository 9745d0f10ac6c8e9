"""The app's names and every folder it keeps files in, from one place.

platformdirs is imported only when a folder is asked for, so importing this module costs nothing at
start-up. The models folder is the user's setting, handed to the Hub code as a folder argument; without
one, huggingface_hub's own cache is used, so weights another tool downloaded are found.
"""

from __future__ import annotations

from pathlib import Path

APP_NAME = "Wuerstchen Desktop"  # the Qt application and organisation name, and the folders' name
DISPLAY_NAME = "Würstchen Desktop"  # what people read: window titles, dialogs
PROGRAM = "wuerstchen-desktop"  # the command, the log file's name, and the app named in image records
PICTURES_SUBFOLDER = "Wuerstchen"  # the default output folder, inside the user's Pictures folder


def log_dir(ensure_exists: bool = False) -> Path:
    """The rotating log, ``faults.log`` and crash reports."""
    import platformdirs

    return Path(platformdirs.user_log_path(APP_NAME, appauthor=False, ensure_exists=ensure_exists))


def log_file(ensure_exists: bool = False) -> Path:
    return log_dir(ensure_exists) / f"{PROGRAM}.log"


def data_dir() -> Path:
    """What the app derives and may rebuild: the history indexes, the converted previewer."""
    import platformdirs

    return Path(platformdirs.user_data_path(APP_NAME, appauthor=False))


def history_dir() -> Path:
    """One SQLite index per output folder."""
    return data_dir() / "history"


def previewer_dir() -> Path:
    """The live-preview network, converted to safetensors."""
    return data_dir() / "previewer"


def encoder_dir() -> Path:
    """The image encoder (image-to-image), its weights converted to safetensors."""
    return data_dir() / "encoder"


def wildcards_dir() -> Path:
    """The wildcard lists: ``name.txt`` (one choice per line) is ``__name__`` in a prompt."""
    return data_dir() / "wildcards"


def server_token_file() -> Path:
    """The bearer token ``serve`` asks of clients when it listens beyond this computer (owner-only)."""
    return data_dir() / "server-token"


def client_token_file() -> Path:
    """The token the window sends to the server it runs on (Settings → Run on), owner-only."""
    return data_dir() / "client-token"


def pictures_dir() -> Path:
    """Pictures pasted into the window to start from, kept as PNG under their sha256 so that an image
    made from one can be reproduced from it."""
    return data_dir() / "pictures"


def default_output_dir() -> Path:
    """Where images go unless the user says otherwise."""
    import platformdirs

    return Path(platformdirs.user_pictures_path()) / PICTURES_SUBFOLDER


def models_dir(setting: str | Path | None) -> Path | None:
    """The Hub cache folder the user chose, or None for huggingface_hub's own (``HF_HUB_CACHE``, else
    ``HF_HOME/hub``). Pass the result to the Hub code as ``cache_dir``; nothing global is changed."""
    if setting is None or not str(setting).strip():
        return None
    return Path(str(setting).strip()).expanduser()
