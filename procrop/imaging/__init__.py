"""Images in and out: loading (orientation, modes, shrink-on-load, limits) and saving (atomic, metadata kept)."""

import warnings


def quiet_broken_mpo() -> None:
    """Silence, in this process, Pillow's UserWarning on a JPEG whose MPO header is broken (it reads as
    the plain JPEG it is, whole): on the command line it named Pillow's own source line, once per
    worker and under --quiet. The CLI and its crop workers call this; a library user's process keeps
    Pillow's warning unless it asks."""
    warnings.filterwarnings("ignore", message="Image appears to be a malformed MPO file",
                            category=UserWarning)
