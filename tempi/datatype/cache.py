"""Descriptors cached per datatype handle, evicted when the type is freed.

Handles are reused by MPI after ``MPI_Type_free``, so a stale entry would describe the
wrong type. Each cached derived type carries an MPI attribute whose delete callback
evicts the entry: MPI calls it on every free, whoever frees the type (mpi4py's ``Free``,
C code, or the interposer).
"""

from __future__ import annotations

from mpi4py import MPI

from tempi.datatype import _mpilib
from tempi.datatype.canonicalize import canonicalize
from tempi.datatype.decode import decode
from tempi.datatype.descriptor import Descriptor
from tempi.errors import NotCommitted, UnsupportedDatatype

_descriptors: dict[int, Descriptor | UnsupportedDatatype] = {}
_keyval: int | None = None


def _evict(datatype: MPI.Datatype, keyval: int, value: object) -> None:
    _descriptors.pop(value, None)


def _attach_evictor(datatype: MPI.Datatype, handle: int) -> None:
    global _keyval
    if _keyval is None:
        _keyval = MPI.Datatype.Create_keyval(delete_fn=_evict)
    datatype.Set_attr(_keyval, handle)


def describe(datatype: MPI.Datatype) -> Descriptor:
    """The canonical descriptor of one element of a committed ``datatype`` (cached).

    Raises :class:`~tempi.errors.NotCommitted` for an uncommitted derived type and
    :class:`~tempi.errors.UnsupportedDatatype` for what tempi cannot describe (remembered
    too, so the verdict costs one decode per handle).
    """
    handle = MPI._handleof(datatype)
    found = _descriptors.get(handle)
    if found is None:
        if not _mpilib.is_committed(datatype):
            raise NotCommitted("datatype is not committed: call Commit() first")
        try:
            found = canonicalize(decode(datatype))
            if found.nbytes != datatype.Get_size():
                raise UnsupportedDatatype(
                    f"descriptor holds {found.nbytes} bytes but MPI says {datatype.Get_size()}"
                )
        except UnsupportedDatatype as exc:
            found = exc
        if not datatype.is_predefined:
            _attach_evictor(datatype, handle)
        _descriptors[handle] = found
    if isinstance(found, UnsupportedDatatype):
        raise found
    return found


def forget(datatype: MPI.Datatype) -> None:
    """Drop the cached descriptor of ``datatype`` (the interposer's MPI_Type_free)."""
    _descriptors.pop(MPI._handleof(datatype), None)


def cached_count() -> int:
    return len(_descriptors)
