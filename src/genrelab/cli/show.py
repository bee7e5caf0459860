"""Showing user strings (file names, error messages) safely on a terminal or in a log.

File names are data, not markup: ``a[/]x.wav`` must not crash rich and ``[bold]`` must show as typed.
They also must not forge log lines: a name with a newline, a carriage return or an escape sequence
is shown with that character written out (``\\n``, ``\\r``, ``\\x1b``).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: object) -> str:
    """``text`` on one line: control characters written as Python escapes (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def shown(text: object) -> str:
    """``text`` ready for ``rich`` ``print``: printable, and rich markup shown literally."""
    from rich.markup import escape

    return escape(printable(text))
