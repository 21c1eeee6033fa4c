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
from privtune.detect.span import Span, new_span

_start = itemgetter(0)


def resolve(cands: list[Candidate], min_score: float = 0.0) -> list[Span]:
    if not cands:
        return []
    if len(cands) == 1:  # the common case: nothing to rank
        c = cands[0]
        if c[3] >= min_score and c[1] > c[0]:
            return [new_span(c[2], c[0], c[1], round(c[3], 4), c[4])]
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
        return [new_span(c[2], c[0], c[1], round(c[3], 4), c[4]) for c in valid]
    # overlaps: candidates in different clusters (maximal runs, in start order, that each
    # start before the furthest end so far) never overlap, so the walk decides each cluster
    # alone; only the clusters (a few candidates each) are ranked
    out: list[Span] = []
    i, n = 0, len(valid)
    while i < n:
        c = valid[i]
        end = c[1]
        j = i + 1
        while j < n and valid[j][0] < end:
            if valid[j][1] > end:
                end = valid[j][1]
            j += 1
        if j == i + 1:
            out.append(new_span(c[2], c[0], c[1], round(c[3], 4), c[4]))
        else:
            out += [new_span(k[2], k[0], k[1], round(k[3], 4), k[4])
                    for k in _walk(valid[i:j])]
        i = j
    return out


def _walk(cands: list[Candidate]) -> list[Candidate]:
    """The ranking walk over ``cands``: the kept candidates, sorted by start."""
    ranked = sorted(cands, key=lambda c: (-c[3], c[0] - c[1], c[0], c[5], c[2]))
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
    return kept
