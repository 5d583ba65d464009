"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): where the time goes.

``python -m bench.profile FILE [N]`` prints the N functions with the most samples
on top of the stack (self) and the N with the most samples anywhere in the stack
(inclusive), each as a share of all samples. ``make bench`` with ``BENCH_PROFILE=1``
writes such a file for the end-to-end run (``.deskroute/bench/e2e-profile.txt``).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def load(path: Path) -> list[tuple[list[str], int]]:
    """(frames root first, samples) per line of a collapsed-stack file."""
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text("utf-8", "replace").splitlines():
        head, _, count = line.rpartition(" ")
        if head and count.isdigit():
            stacks.append((head.split(";"), int(count)))
    return stacks


def short(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``func (module.py)``: one row per function."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({file})" if file else name


def summary(stacks: list[tuple[list[str], int]], n: int = 25) -> str:
    total = sum(c for _s, c in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        names = [short(f) for f in frames]
        if names:
            own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    lines = [f"{total} samples", "", "self:"]
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(n)]
    lines += ["", "inclusive:"]
    lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in inclusive.most_common(n)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    n = int(argv[1]) if len(argv) > 1 else 25
    print(summary(load(Path(argv[0])), n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
