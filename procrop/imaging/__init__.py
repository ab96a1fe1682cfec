"""Images in and out: loading (orientation, modes, shrink-on-load, limits) and saving (atomic, metadata kept)."""
