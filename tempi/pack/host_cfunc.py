"""Host packing callable from C: numba ``@cfunc`` wrappers of the njit kernels of
:mod:`tempi.pack.host` (``_strided``, ``_blocklist``), for the interposer's C engine
(``native/engine.c``) to run the plans of :mod:`tempi.shim.plans` without Python.

Each cfunc is ``void f(void *typed, void *packed, int64_t *args, int64_t to_packed)``:
``typed`` points at the first byte the data touches, ``packed`` at the dense bytes, and
``args`` at ``[kind, typed words, packed words, ndim, start | nblocks, block, counts...,
strides..., (offsets..., lengths...)]`` in words (kind 0 strided, 1 block list); the
arrays are made with ``numba.carray`` from the raw pointers. One cfunc per word size
(carray needs the dtype as a constant), compiled on import and cached on disk.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from tempi.pack.host import _blocklist, _strided

HEAD = 6
"""Leading int64 arguments before the arrays."""


@numba.njit(cache=True, nogil=True)
def _body(typed, packed, a, to_packed):  # pragma: no cover - compiled by numba
    """One plan's transfer: ``a`` as :func:`tempi.shim.plans.arguments` lays it out."""
    ndim = a[3]
    counts = a[HEAD : HEAD + ndim]
    strides = a[HEAD + ndim : HEAD + 2 * ndim]
    if a[0] == 0:
        _strided(typed, packed, a[4], a[5], counts, strides, to_packed)
    else:
        first = HEAD + 2 * ndim
        nblocks = a[4]
        offsets = a[first : first + nblocks]
        lengths = a[first + nblocks : first + 2 * nblocks]
        _blocklist(typed, packed, offsets, lengths, counts, strides, to_packed)


_SIGNATURE = "void(voidptr, voidptr, CPointer(int64), int64)"


@numba.njit(inline="always")
def _arrays(typed_p, packed_p, args_p, dtype):  # pragma: no cover - inlined by numba
    head = numba.carray(args_p, HEAD)
    total = HEAD + 2 * head[3] + (2 * head[4] if head[0] == 1 else 0)
    a = numba.carray(args_p, total)
    return numba.carray(typed_p, head[1], dtype), numba.carray(packed_p, head[2], dtype), a


# One cfunc per word (numba's carray needs the dtype as a constant); cached on disk.
@numba.cfunc(_SIGNATURE, cache=True)
def _transfer_8(typed_p, packed_p, args_p, to_packed):  # pragma: no cover - numba
    typed, packed, a = _arrays(typed_p, packed_p, args_p, np.uint64)
    _body(typed, packed, a, to_packed != 0)


@numba.cfunc(_SIGNATURE, cache=True)
def _transfer_4(typed_p, packed_p, args_p, to_packed):  # pragma: no cover - numba
    typed, packed, a = _arrays(typed_p, packed_p, args_p, np.uint32)
    _body(typed, packed, a, to_packed != 0)


@numba.cfunc(_SIGNATURE, cache=True)
def _transfer_2(typed_p, packed_p, args_p, to_packed):  # pragma: no cover - numba
    typed, packed, a = _arrays(typed_p, packed_p, args_p, np.uint16)
    _body(typed, packed, a, to_packed != 0)


@numba.cfunc(_SIGNATURE, cache=True)
def _transfer_1(typed_p, packed_p, args_p, to_packed):  # pragma: no cover - numba
    typed, packed, a = _arrays(typed_p, packed_p, args_p, np.uint8)
    _body(typed, packed, a, to_packed != 0)


_CFUNCS = {8: _transfer_8, 4: _transfer_4, 2: _transfer_2, 1: _transfer_1}


def transfer_function(word: int) -> Any:
    """The cfunc of ``word``-byte words (``.address`` for C, ``.ctypes`` to call)."""
    return _CFUNCS[word]
