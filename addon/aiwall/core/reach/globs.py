"""Paths to try at a host: one inside each combination of the path patterns (globs) there,
found by walking the globs' positions together."""

import fnmatch
import itertools
import re
from collections.abc import Iterable
from functools import cache


def paths(patterns: frozenset[str]) -> list[str]:
    """`/` and a path matching each combination (of up to three) of the patterns."""
    found = {"/"}
    ordered = sorted(patterns)
    for size in range(1, min(3, len(ordered)) + 1):
        for combination in itertools.combinations(ordered, size):
            if (path := _witness(frozenset(combination))) is not None:
                found.add(path)
    return sorted(found)


@cache
def _witness(patterns: frozenset[str]) -> str | None:
    """The shortest path starting with / that every glob matches, or None (breadth first over
    the globs' positions, trying the characters they name)."""
    automata = [_tokens(p) for p in ("/*", *sorted(patterns))]
    start = tuple(_closure(tokens, {0}) for tokens in automata)
    seen = {start}
    frontier: list[tuple[tuple[frozenset[int], ...], str]] = [(start, "")]
    for _ in range(2 + sum(len(t) for t in automata)):
        following = []
        for state, text in frontier:
            if all(len(t) in s for t, s in zip(automata, state, strict=True)):
                return text
            for char in _candidates(automata, state):
                step = tuple(
                    _step(tokens, positions, char)
                    for tokens, positions in zip(automata, state, strict=True)
                )
                if all(step) and step not in seen:
                    seen.add(step)
                    following.append((step, text + char))
        frontier = following
    return None


Token = tuple[str, str]  # ("*", ""), ("?", ""), ("=", char), ("[", regex)


def _tokens(glob: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if char == "*":
            tokens.append(("*", ""))
        elif char == "?":
            tokens.append(("?", ""))
        elif char == "[" and (end := glob.find("]", i + 2)) > 0:
            tokens.append(("[", fnmatch.translate(glob[i : end + 1])))
            i = end
        else:
            tokens.append(("=", char))
        i += 1
    return tokens


def _closure(tokens: list[Token], positions: Iterable[int]) -> frozenset[int]:
    result = set(positions)
    stack = list(result)
    while stack:
        position = stack.pop()
        if position < len(tokens) and tokens[position][0] == "*" and position + 1 not in result:
            result.add(position + 1)
            stack.append(position + 1)
    return frozenset(result)


def _accepts(token: Token, char: str) -> bool:
    kind, value = token
    if kind in "*?":
        return True
    if kind == "=":
        return value == char
    return re.match(value, char) is not None


def _step(tokens: list[Token], positions: frozenset[int], char: str) -> frozenset[int]:
    following = set()
    for position in positions:
        if position < len(tokens) and _accepts(tokens[position], char):
            following.add(position if tokens[position][0] == "*" else position + 1)
    return _closure(tokens, following)


def _candidates(automata: list[list[Token]], state: tuple[frozenset[int], ...]) -> list[str]:
    chars = {"x", "/"}
    for tokens, positions in zip(automata, state, strict=True):
        for position in positions:
            if position < len(tokens) and tokens[position][0] == "=":
                chars.add(tokens[position][1])
            elif position < len(tokens) and tokens[position][0] == "[":
                chars.update(c for c in "ax0-_." if _accepts(tokens[position], c))
    return sorted(chars)
