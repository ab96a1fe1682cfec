"""Results out: cropped files, JSON, previews and batch runs over many photos."""
