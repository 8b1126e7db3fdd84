"""The LD_PRELOAD interposer: built by cffi in embedding mode (``build``), its Python side
in ``callbacks``. ``tempi build-shim`` and ``tempi run`` are the entry points."""
