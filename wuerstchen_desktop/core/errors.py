"""One hierarchy of errors, each with a sentence a user understands and what to do next."""

from __future__ import annotations

from pathlib import Path


class WuerstchenError(Exception):
    """Base of every error the app reports to a user.

    ``message`` says what went wrong, ``hint`` what to do about it. ``str()`` gives both on one line.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class InvalidParams(WuerstchenError):
    """A generation parameter is out of range or of the wrong kind."""


class CheckpointError(WuerstchenError):
    """A checkpoint folder or file is missing, damaged, or in a format we refuse to load."""


class OfflineError(WuerstchenError):
    """The checkpoints are not on disk and cannot be downloaded now."""


class Cancelled(WuerstchenError):
    """The user cancelled the job."""

    def __init__(self, message: str = "Cancelled.", hint: str = "") -> None:
        super().__init__(message, hint)


class DownloadError(OfflineError):
    """The checkpoints could not be fetched; what is already on disk is kept for the next try."""


class Unreachable(DownloadError):
    """The server could not be reached at all (no network, no such name, refused): nothing to wait for."""


class NoRanges(DownloadError):
    """The server sends only whole files: a part of one would cost a full download of ``size`` bytes."""

    size = 0


class ArchiveRefused(DownloadError):
    """The remote file is not a zip archive the app can read safely; nothing of it was kept or run."""


class NotEnoughSpace(DownloadError):
    """Too little free disk space for the download, found before a single byte was fetched."""


class OutOfMemory(WuerstchenError):
    """The job did not fit even in the lowest memory mode."""


class SaveError(WuerstchenError):
    """An image or another small file could not be written; nothing already on disk was touched."""


class PartlySaved(SaveError):
    """Some of a job's files were written before one could not be: ``paths`` are the ones on disk."""

    def __init__(self, message: str, hint: str, paths: tuple[Path, ...]) -> None:
        super().__init__(message, hint)
        self.paths = paths


class ImageReadError(WuerstchenError):
    """An image file is broken, hostile or not an image; nothing in it can be trusted."""


class NoParametersFound(WuerstchenError):
    """A readable image that carries no generation parameters we understand."""


class ParametersTooLong(NoParametersFound):
    """An A1111-style text longer than ``parameters_text.MAX_PARAMETERS_CHARS``: not read at all."""


class OutputFolderError(WuerstchenError):
    """The output folder does not exist and cannot be made, is not a folder, or cannot be written."""


class HistoryError(WuerstchenError):
    """The history index or the trash could not do what was asked."""


class SelfTestFailed(WuerstchenError):
    """``--self-test`` found the installation broken; the message says which check failed."""


class ServerError(WuerstchenError):
    """``serve`` cannot start: its address is taken or refused, or its token file is unreadable."""


class QueueFull(WuerstchenError):
    """A server client asked for more than its share of the queue; it may ask again once one is done."""


class RemoteError(WuerstchenError):
    """The server the window runs its jobs on refused a job, failed it, or cannot do this kind of job."""
