"""The walk over the rules at one destination: what an enforcing rule matches, as cubes of
classes, is taken away from what is left for the rules after it."""

from dataclasses import dataclass

from aiwall.core.reach.classes import Cube


@dataclass(frozen=True)
class Sweep:
    """The walk over the rules at one destination, from one starting cube."""

    matches: tuple[bool, ...]
    decides: tuple[bool, ...]
    # Per rule, the earlier enforcing rules that take some of its requests, and those that take
    # all of them on their own.
    blockers: tuple[frozenset[int], ...]
    covers: tuple[frozenset[int], ...]
    default: bool

    @classmethod
    def walk(
        cls, rule_cubes: tuple[tuple[Cube, ...], ...], enforcing: list[bool], start: Cube
    ) -> "Sweep":
        left = [start]
        matches, decides, blockers, covers = [], [], [], []
        taken: list[tuple[int, list[Cube]]] = []  # earlier enforcing rules and their cubes
        for i, cubes in enumerate(rule_cubes):
            mine = [c for cube in cubes if (c := _intersect(cube, start)) is not None]
            matches.append(bool(mine))
            decides.append(any(_intersect(a, b) is not None for a in left for b in mine))
            blockers.append(
                frozenset(
                    j
                    for j, theirs in taken
                    if any(_intersect(a, b) is not None for a in mine for b in theirs)
                )
            )
            covers.append(frozenset(j for j, theirs in taken if not _subtract_all(mine, theirs)))
            if enforcing[i] and mine:
                left = _subtract_all(left, mine)
                taken.append((i, mine))
        return cls(tuple(matches), tuple(decides), tuple(blockers), tuple(covers), bool(left))


def _intersect(a: Cube, b: Cube) -> Cube | None:
    cube = tuple(x & y for x, y in zip(a, b, strict=True))
    return cube if all(cube) else None


def _subtract(a: Cube, b: Cube) -> list[Cube]:
    """a without b, as disjoint cubes."""
    if _intersect(a, b) is None:
        return [a]
    pieces = []
    rest = list(a)
    for dim, (mine, theirs) in enumerate(zip(a, b, strict=True)):
        if outside := mine - theirs:
            pieces.append((*rest[:dim], outside, *rest[dim + 1 :]))
        rest[dim] = mine & theirs
    return pieces


def _subtract_all(cubes: list[Cube], taken: list[Cube]) -> list[Cube]:
    for cut in taken:
        cubes = [piece for cube in cubes for piece in _subtract(cube, cut)]
    return list(dict.fromkeys(cubes))
