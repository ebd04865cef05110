"""User-facing errors: the CLI prints their message (no traceback) and exits with status 2."""


class GpnasError(Exception):
    """Bad input or an unusable file; the message says what and where."""
