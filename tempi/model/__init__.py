"""The empirical performance model: which strategy moves a non-contiguous message fastest.

``tempi measure`` times the pieces each strategy is made of on this machine
(:mod:`~tempi.model.measure`) and caches them as a versioned JSON profile
(:mod:`~tempi.model.profile`); :mod:`~tempi.model.predict` interpolates those tables in
log space and adds the pieces up per strategy; :mod:`~tempi.model.choose` picks the
fastest allowed one for the engine. Without a profile, :mod:`~tempi.model.defaults`
builds one from first principles. Nothing here imports CuPy at import time: the engine
asks the model on every ``TEMPI_DATATYPE=auto`` message, also in CPU-only processes.
"""

from tempi.model.choose import current, pick, predict_shape, reset, use
from tempi.model.features import Shape
from tempi.model.profile import SCHEMA_VERSION, Profile

__all__ = ["SCHEMA_VERSION", "Profile", "Shape", "current", "pick", "predict_shape", "reset", "use"]
