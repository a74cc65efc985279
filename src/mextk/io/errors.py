"""The one error of mextk's video input and output: :class:`VideoError`."""


class VideoError(RuntimeError):
    """A video (or frame folder) that is missing, unreadable, corrupt or truncated.

    The message is one line and starts with the path.
    """
