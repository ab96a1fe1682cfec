"""Scoring candidate crops: weights, the per-photo context, the composition terms and plug-in terms."""
