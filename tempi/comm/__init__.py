"""Moving datatypes: strategies, staging pools, requests, the engine, ``tempi.Comm``."""

from tempi.comm.communicator import Comm
from tempi.comm.engine import release, stats
from tempi.comm.requests import Prequest, Request

__all__ = ["Comm", "Prequest", "Request", "release", "stats"]
