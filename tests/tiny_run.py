"""The settings of the tiny run that the reliability tests share (fixture ``tiny`` in
conftest.py), and ``gpnas`` called in process."""

import sys

import pytest

TINY_RUN = ["--generations", "1", "--population", "6", "--evolution-nets", "8",
            "--sample-nets", "4", "--test-nets", "32", "--seed", "0", "--quiet"]
A_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def run_main(*args) -> int:
    """``gpnas ARGS`` through the real entry point, in this process; its exit status."""
    from gpnas.cli import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["gpnas", *map(str, args)])
        try:
            main()
        except SystemExit as exc:
            return exc.code or 0
    return 0
