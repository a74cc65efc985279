"""``mextk analyze``: a new recording, through prepare, spotting and recognition, into a per-person report."""
