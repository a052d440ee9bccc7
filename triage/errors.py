"""Exceptions raised by triage. Every message says what went wrong and what to do."""
from __future__ import annotations


class TriageError(Exception):
    """Base class for every error triage raises on purpose."""


class InputTextError(TriageError, ValueError):
    """A text to classify is unusable (not a string, empty, or over the length cap)."""


class TextTooLongError(InputTextError):
    """A text is over the length cap."""


class InvalidTextError(InputTextError):
    """A text holds code points no encoder can write (lone UTF-16 surrogates)."""


class DataError(TriageError, ValueError):
    """A data file cannot be read or lacks what it must hold (columns, labels, encoding)."""


class ModelError(TriageError):
    """A model directory is missing, unreadable, tampered with or incompatible."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """No model at the given directory."""


class ModelIntegrityError(ModelError):
    """The model file does not match its manifest; it is not loaded."""


class RegistryError(DataError):
    """The unit registry file is malformed."""
