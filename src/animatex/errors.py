"""The one exception type users see from the CLI as a clean message instead of a traceback."""


class AnimatexError(ValueError):
    """Bad input or a missing file: the message says what is wrong and what to do."""
