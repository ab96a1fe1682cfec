"""What both trainers use: :mod:`.keeping` (stopping on a signal, saving on a clock, the best
checkpoint, the logs)."""
