"""Measuring croppers: benchmark metrics, the evaluation driver and the peer croppers it compares with."""
