""" "Did you mean ...?": the nearest of the names that exist, for a name that does not."""

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like `name`, if one is close enough to be a likely typo."""
    choices = list(known)
    folded = {choice.lower(): choice for choice in choices}
    if name.lower() in folded:
        return folded[name.lower()]
    matches = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.6)
    return folded[matches[0]] if matches else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`; did you mean 'deepseek'?`, or an empty string when nothing is close."""
    match = closest(name, known)
    return f"; did you mean {match!r}?" if match is not None and match != name else ""
