"""Plug-in score terms computed by other components: retrieval of references, a neural model."""
