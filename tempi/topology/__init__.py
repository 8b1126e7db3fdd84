"""Topology-aware rank placement (``reorder = 1``)."""
