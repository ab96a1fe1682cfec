"""Images in and out: loading (orientation, modes, shrink-on-load, limits) and saving (atomic, metadata kept)."""

import warnings

# A JPEG whose MPO header is broken reads as the plain JPEG it is (Pillow says so in a UserWarning
# naming its own source line); procrop reads it whole, so the warning is noise on the command line,
# printed again by each worker and even under --quiet (a trial's camera photo with a bad MPO header).
warnings.filterwarnings("ignore", message="Image appears to be a malformed MPO file", category=UserWarning)
