"""Overlap resolution.

Candidates are ranked by, in order: higher score, longer span, earlier start, lower recognizer
priority number (custom rules 0, private keys 1, tokens 2, ID cards 5 ... URLs 80), then type
name. Walking that ranking, a candidate is kept when it overlaps no span kept before it.
The result is sorted by start and has no overlaps. Exact duplicates (same type and offsets from
two recognizers) collapse into the better one.
"""

from __future__ import annotations

from bisect import bisect_left
from operator import itemgetter

from privtune.detect.recognizer import Candidate
from privtune.detect.span import Span

_start = itemgetter(0)


def resolve(cands: list[Candidate], min_score: float = 0.0) -> list[Span]:
    if not cands:
        return []
    if len(cands) == 1:  # the common case: nothing to rank
        c = cands[0]
        if c[3] >= min_score and c[1] > c[0]:
            return [Span(c[2], c[0], c[1], round(c[3], 4), c[4])]
        return []
    valid = [c for c in cands if c[3] >= min_score and c[1] > c[0]]
    # the common case: no two candidates overlap, so the ranking would keep them all (the
    # sort by start is stable, so ties in the ranking below keep their input order)
    valid.sort(key=_start)
    end = -1
    for c in valid:
        if c[0] < end:
            break
        end = c[1]
    else:
        return [Span(c[2], c[0], c[1], round(c[3], 4), c[4]) for c in valid]
    ranked = sorted(valid, key=lambda c: (-c[3], c[0] - c[1], c[0], c[5], c[2]))
    starts: list[int] = []
    kept: list[Candidate] = []
    for c in ranked:
        s, e = c[0], c[1]
        i = bisect_left(starts, s)
        if i > 0 and kept[i - 1][1] > s:
            continue
        if i < len(kept) and kept[i][0] < e:
            continue
        starts.insert(i, s)
        kept.insert(i, c)
    return [Span(c[2], c[0], c[1], round(c[3], 4), c[4]) for c in kept]
