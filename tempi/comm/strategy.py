"""Which way a message goes: the strategies and the one function that chooses.

Non-contiguous device data:

* ``device``  -- pack into device memory, hand that to a CUDA-aware MPI;
* ``oneshot`` -- pack straight into mapped pinned host memory, send from there (receive
  into pinned memory, unpack on the device from it);
* ``staged``  -- pack on the device, copy to pinned host memory, send from there.

Non-contiguous host data (``TEMPI_HOST=1``): tempi's packed route (every strategy above
then runs on the CPU) or

* ``system``  -- the system MPI's own path: the user's buffer and datatype go to MPI as
  they are (no pack), where the model measured that path faster for the size
  (:func:`host_strategy`; Open MPI keeps a vector eager where as many packed bytes are not).

Contiguous device data goes to a CUDA-aware MPI as it is (``direct``) or through pinned
host memory (``staged``). ``TEMPI_DATATYPE`` / ``TEMPI_CONTIGUOUS`` force a choice;
``auto`` asks :func:`choose_strategy`, which asks the performance model
(:mod:`tempi.model`: the measured profile of this machine, else first-principles defaults).
"""

from __future__ import annotations

from tempi import config
from tempi.datatype.descriptor import Descriptor
from tempi.errors import ConfigError
from tempi.log import get_logger

log = get_logger("comm")


def choose_strategy(
    desc: Descriptor, nbytes: int, *, cuda_aware: bool, peer_local: bool | None = None
) -> str:
    """The fastest strategy the performance model predicts for this message (device only
    on a CUDA-aware MPI). ``peer_local``: whether the peer shares this node (None, not
    known: taken as True; see :mod:`tempi.comm.locality`). Should the model fail, the rule it
    replaced: device on a CUDA-aware MPI, else one-shot (the kernel writes the packed
    bytes over the host link once; staged writes them to device memory and copies again)."""
    try:
        from tempi.model import choose

        return choose.pick(
            desc,
            nbytes,
            cuda_aware=cuda_aware,
            peer_local=True if peer_local is None else peer_local,
        )
    except Exception as exc:  # the model must never stop a message
        log.debug("performance model failed (%s): fixed rule", exc)
        return "device" if cuda_aware else "oneshot"


def datatype_strategy(
    desc: Descriptor,
    nbytes: int,
    *,
    cuda_aware: bool,
    emulated: bool,
    peer_local: bool | None = None,
) -> str:
    """The strategy for one non-contiguous message; refuses ``device`` without a
    CUDA-aware MPI (except in host emulation, where "device" memory is host memory)."""
    forced = config.get("TEMPI_DATATYPE")
    if forced == "auto":
        return choose_strategy(
            desc, nbytes, cuda_aware=cuda_aware or emulated, peer_local=peer_local
        )
    if forced == "device" and not (cuda_aware or emulated):
        raise ConfigError(
            "TEMPI_DATATYPE=device needs a CUDA-aware MPI and this one is not "
            "(override with TEMPI_CUDA_AWARE=1 if detection is wrong); use oneshot, staged or auto"
        )
    return forced


def host_strategy(desc: Descriptor, nbytes: int, *, peer_local: bool | None = None) -> str:
    """The strategy for one non-contiguous host message: ``system`` when ``TEMPI_DATATYPE``
    is ``auto`` and the model predicts the MPI's own typed path faster than packing for
    ``nbytes`` (:func:`tempi.model.choose.pick_host`), else :func:`datatype_strategy`'s
    (a forced strategy always packs). The one rule for the interposer's plans
    (:mod:`tempi.shim.plans`) and the Python route (:mod:`tempi.comm.engine`)."""
    if config.get("TEMPI_DATATYPE") == "auto":
        try:
            from tempi.model import choose

            local = True if peer_local is None else peer_local
            if choose.pick_host(nbytes, peer_local=local) == "system":
                return "system"
        except Exception as exc:  # the model must never stop a message
            log.debug("host choice failed (%s): packed", exc)
    return datatype_strategy(desc, nbytes, cuda_aware=False, emulated=True, peer_local=peer_local)


def contiguous_strategy(*, cuda_aware: bool) -> str:
    """'direct' (the device buffer goes to MPI as it is) or 'staged'."""
    if config.get("TEMPI_CONTIGUOUS") == "staged" or not cuda_aware:
        return "staged"
    return "direct"
