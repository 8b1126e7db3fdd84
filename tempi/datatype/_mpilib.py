"""Direct calls into the loaded MPI library, for the few checks mpi4py cannot make safely.

mpi4py's ``Datatype.Pack`` derives the count from the buffer length and divides by the
extent (a zero extent crashes the process), and Open MPI's ``MPI_Pack_size`` crashes on
an uncommitted type. An ``MPI_Pack`` of zero elements is the one portable, harmless way
to ask the library whether a type is committed.
"""

from __future__ import annotations

import ctypes
from functools import cache

from mpi4py import MPI


@cache
def library() -> ctypes.CDLL:
    """The libmpi that mpi4py loaded (found through /proc/self/maps: it is RTLD_LOCAL)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "/libmpi" in path and ".so" in path:
                return ctypes.CDLL(path)
    return ctypes.CDLL(None)


@cache
def handle_type() -> type:
    """C type of an MPI handle: ``int`` for the MPICH ABI, a pointer for Open MPI / MPI ABI."""
    return ctypes.c_int if MPI._sizeof(MPI.Datatype) == 4 else ctypes.c_void_p


def handle(obj: MPI.Datatype | MPI.Comm) -> ctypes._SimpleCData:
    return handle_type()(MPI._handleof(obj))


@cache
def _pack_c() -> ctypes._CFuncPtr:
    lib = library()
    func = getattr(lib, "MPI_Pack_c", None) or lib.MPI_Pack
    count = ctypes.c_ssize_t if func.__name__ == "MPI_Pack_c" else ctypes.c_int
    h = handle_type()
    func.argtypes = [ctypes.c_void_p, count, h, ctypes.c_void_p, count, ctypes.POINTER(count), h]
    func.restype = ctypes.c_int
    func.count_type = count
    return func


def pack(
    inptr: int, count: int, datatype: MPI.Datatype, outptr: int, outsize: int, position: int
) -> int:
    """``MPI_Pack`` (large-count form where available); returns the new position.

    Raises ``MPI.Exception`` with the library's error code.
    """
    func = _pack_c()
    pos = func.count_type(position)
    err = func(
        inptr, count, handle(datatype), outptr, outsize, ctypes.byref(pos), handle(MPI.COMM_SELF)
    )
    if err != MPI.SUCCESS:
        raise MPI.Exception(err)
    return pos.value


def is_committed(datatype: MPI.Datatype) -> bool:
    """Whether MPI accepts ``datatype`` for communication (packs zero elements of it)."""
    if datatype.is_predefined:
        return True
    scratch = ctypes.c_char()
    try:
        pack(ctypes.addressof(scratch), 0, datatype, ctypes.addressof(scratch), 0, 0)
    except MPI.Exception:
        return False
    return True


@cache
def _unpack_c() -> ctypes._CFuncPtr:
    lib = library()
    func = getattr(lib, "MPI_Unpack_c", None) or lib.MPI_Unpack
    count = ctypes.c_ssize_t if func.__name__ == "MPI_Unpack_c" else ctypes.c_int
    h = handle_type()
    func.argtypes = [ctypes.c_void_p, count, ctypes.POINTER(count), ctypes.c_void_p, count, h, h]
    func.restype = ctypes.c_int
    func.count_type = count
    return func


def unpack(
    inptr: int, insize: int, position: int, outptr: int, count: int, datatype: MPI.Datatype
) -> int:
    """``MPI_Unpack`` (large-count form where available); returns the new position."""
    func = _unpack_c()
    pos = func.count_type(position)
    err = func(
        inptr, insize, ctypes.byref(pos), outptr, count, handle(datatype), handle(MPI.COMM_SELF)
    )
    if err != MPI.SUCCESS:
        raise MPI.Exception(err)
    return pos.value


def footprint(datatype: MPI.Datatype, count: int) -> tuple[int, int]:
    """Byte range [lo, hi) relative to the origin that ``count`` elements may touch, from
    MPI's own true bounds stepped by its extent."""
    true_lb, true_extent = datatype.Get_true_extent()
    _, extent = datatype.Get_extent()
    reach = (count - 1) * extent if count else 0
    return true_lb + min(0, reach), true_lb + true_extent + max(0, reach)
