"""The exception types users see from the CLI as a clean message instead of a traceback."""


class AnimatexError(ValueError):
    """Bad input or a missing file: the message says what is wrong and what to do."""

    exit_code = 2


class OutputError(AnimatexError):
    """An output could not be written (full disk, read-only folder, failed encoder); nothing was left behind."""

    exit_code = 1
