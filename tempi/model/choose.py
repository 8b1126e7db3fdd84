"""The choice the engine asks for: which strategy for this descriptor, size, peer and MPI.

The profile is looked up once per process (this machine's cached file, else built-in
defaults) and every answer is remembered under a coarse key -- quarter octaves of size,
half octaves of block and stride, levels, peer locality, CUDA-awareness -- so after the
first message of a shape the choice is one dictionary lookup.
"""

from __future__ import annotations

import math

from tempi.datatype.descriptor import Descriptor
from tempi.log import get_logger
from tempi.model import features, predict
from tempi.model.features import Shape
from tempi.model.profile import Profile, load, profile_path

log = get_logger("model")

_CACHE_SIZE = 4096
_profile: Profile | None = None
_choices: dict[tuple, str] = {}


def current() -> Profile:
    """This process's profile: the cached file for this GPU, MPI and tempi version, else
    the built-in defaults (a corrupt or outdated file warns once)."""
    global _profile
    if _profile is None:
        found = None
        try:
            found = load(profile_path())
        except Exception as exc:  # e.g. an unusable cache directory
            log.debug("no profile (%s)", exc)
        if found is None:
            from tempi.model import defaults

            found = defaults.profile()
        log.debug("performance model from %s", found.source)
        _profile = found
    return _profile


def use(profile: Profile | None) -> None:
    """Make ``profile`` the current one (None: look it up again); forgets past choices."""
    global _profile
    _profile = profile
    _choices.clear()


def reset() -> None:
    """Forget the profile and every choice (tests; after ``tempi measure``)."""
    use(None)


def predict_shape(
    shape: Shape, *, cuda_aware: bool, peer_local: bool = True, profile: Profile | None = None
) -> dict[str, predict.Prediction]:
    """Predictions of every allowed strategy for ``shape``."""
    return predict.predict(
        profile or current(),
        shape,
        peer_local=peer_local,
        strategies=predict.allowed(cuda_aware=cuda_aware),
    )


def pick_shape(shape: Shape, *, cuda_aware: bool, peer_local: bool = True) -> str:
    """The fastest allowed strategy for ``shape`` (remembered by its bucket)."""
    key = (shape.bucket(), peer_local, cuda_aware)
    found = _choices.get(key)
    if found is None:
        found = predict.fastest(predict_shape(shape, cuda_aware=cuda_aware, peer_local=peer_local))
        if len(_choices) >= _CACHE_SIZE:
            del _choices[next(iter(_choices))]
        _choices[key] = found
    return found


def pick_host(nbytes: int, *, peer_local: bool = True) -> str:
    """For a non-contiguous host message of ``nbytes`` packed bytes: ``system`` (the MPI's
    own typed path is faster here, :mod:`tempi.model.host`) or ``packed`` (tempi's
    route); remembered by quarter octave of size."""
    from tempi.model import host

    key = ("host", round(4 * math.log2(max(nbytes, 1))), peer_local)
    found = _choices.get(key)
    if found is None:
        profile = current()
        if host.host_tables(profile, peer_local) is None:  # a profile measured before
            from tempi.model.defaults import _host_tables

            built_in = _host_tables()
            if built_in is not None:
                profile = Profile(built_in[0], source=built_in[1])
        found = host.pick(profile, nbytes, peer_local=peer_local)
        if len(_choices) >= _CACHE_SIZE:
            del _choices[next(iter(_choices))]
        _choices[key] = found
    return found


def pick(desc: Descriptor, nbytes: int, *, cuda_aware: bool, peer_local: bool = True) -> str:
    """The strategy for a message of ``nbytes`` packed bytes laid out as ``desc``."""
    return pick_shape(features.of(desc, nbytes), cuda_aware=cuda_aware, peer_local=peer_local)
