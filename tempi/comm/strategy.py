"""Which way a message goes: the strategies and the one function that chooses.

Non-contiguous device data:

* ``device``  -- pack into device memory, hand that to a CUDA-aware MPI;
* ``oneshot`` -- pack straight into mapped pinned host memory, send from there (receive
  into pinned memory, unpack on the device from it);
* ``staged``  -- pack on the device, copy to pinned host memory, send from there.

Contiguous device data goes to a CUDA-aware MPI as it is (``direct``) or through pinned
host memory (``staged``). ``TEMPI_DATATYPE`` / ``TEMPI_CONTIGUOUS`` force a choice;
``auto`` asks :func:`choose_strategy`, whose signature the performance model implements.
"""

from __future__ import annotations

from tempi import config
from tempi.datatype.descriptor import Descriptor
from tempi.errors import ConfigError


def choose_strategy(
    desc: Descriptor, nbytes: int, *, cuda_aware: bool, peer_local: bool | None = None
) -> str:
    """The AUTO rule until a measured model replaces it: a CUDA-aware MPI gets device
    buffers (no host round trip); otherwise one-shot, whose kernel writes the packed bytes
    over the host link once, where staged writes them to device memory first and copies
    them again (one-shot ran at ~48 GB/s into host memory on the H200, the link's rate)."""
    return "device" if cuda_aware else "oneshot"


def datatype_strategy(desc: Descriptor, nbytes: int, *, cuda_aware: bool, emulated: bool) -> str:
    """The strategy for one non-contiguous message; refuses ``device`` without a
    CUDA-aware MPI (except in host emulation, where "device" memory is host memory)."""
    forced = config.get("TEMPI_DATATYPE")
    if forced == "auto":
        return choose_strategy(desc, nbytes, cuda_aware=cuda_aware or emulated)
    if forced == "device" and not (cuda_aware or emulated):
        raise ConfigError(
            "TEMPI_DATATYPE=device needs a CUDA-aware MPI and this one is not "
            "(override with TEMPI_CUDA_AWARE=1 if detection is wrong); use oneshot, staged or auto"
        )
    return forced


def contiguous_strategy(*, cuda_aware: bool) -> str:
    """'direct' (the device buffer goes to MPI as it is) or 'staged'."""
    if config.get("TEMPI_CONTIGUOUS") == "staged" or not cuda_aware:
        return "staged"
    return "direct"
