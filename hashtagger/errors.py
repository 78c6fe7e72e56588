"""Domain errors: the library raises these, the CLI turns them into one-line messages."""

from __future__ import annotations


class HashtaggerError(Exception):
    """Base class for every error a user can cause and fix."""


class InputError(HashtaggerError):
    """A path, photo or option given by the user cannot be used."""


class ImageError(InputError):
    """One photo cannot be decoded; a batch records it and goes on."""


class ConfigError(HashtaggerError):
    """A config key or value is unknown or of the wrong type."""


class CheckpointError(HashtaggerError):
    """A checkpoint file is missing, truncated, foreign or incompatible."""


class DatasetError(HashtaggerError):
    """A dataset folder, list file or manifest is malformed."""


class DownloadError(HashtaggerError):
    """Fetching, verifying or extracting a dataset failed."""


class MissingDependencyError(HashtaggerError):
    """An optional extra is needed for this feature; the message names it."""


class ExportError(HashtaggerError):
    """A model cannot be exported, or its export fails the checks run at export time."""


class OutputError(HashtaggerError, OSError):
    """A file cannot be written: a full disk (the message says 'no space left'), permissions.

    Also an OSError, so code that handles failed writes as OSError keeps working.
    """


def first_line(e: BaseException) -> str:
    """A library's exception as the short reason after a one-line message (its first line, or its type)."""
    text = str(e).strip()
    return text.splitlines()[0][:160] if text else type(e).__name__
