"""Exception hierarchy of tempi.

Every error tempi raises on purpose derives from :class:`TempiError`, so callers can
catch ours apart from MPI's (``mpi4py.MPI.Exception``) and from programming errors.
"""

from __future__ import annotations


class TempiError(Exception):
    """Base class of every tempi error."""


class UnsupportedDatatype(TempiError):
    """A datatype tempi cannot describe; the caller should pass it to the system MPI."""


class NotCommitted(TempiError):
    """A derived datatype was used before ``Commit()``."""


class InvalidBuffer(TempiError, BufferError):
    """A buffer is too small, read-only, not addressable, or would be accessed out of bounds."""


class Declined(TempiError):
    """tempi failed in its local part of a call before anything reached MPI; the system
    MPI can still do the whole call (the interposer passes it on)."""


class ConfigError(TempiError):
    """A configuration value that cannot be used."""


class KernelCompileError(TempiError):
    """A CUDA kernel failed to compile; keeps the source and options for the report."""

    def __init__(self, message: str, source: str = "", options: tuple[str, ...] = ()):
        super().__init__(message)
        self.source = source
        self.options = tuple(options)

    def dump(self) -> str:
        """The source with line numbers and the compiler options, for a bug report."""
        lines = self.source.splitlines()
        width = len(str(len(lines)))
        numbered = "\n".join(f"{i + 1:>{width}} {line}" for i, line in enumerate(lines))
        return f"{self}\noptions: {' '.join(self.options)}\n{numbered}"
