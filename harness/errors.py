"""User-facing errors: the CLI prints them as one line (no traceback) and exits with status 2."""


class UserError(Exception):
    """Bad input from the user: a suite file, a flag, a corrupted result. Message names the culprit."""
