"""THE matcher: options, candidate pairs, the assignment kernels and the match table.

Everything about correctness is derived from :class:`MatchTable`; there is no other
matcher in aquaembed.
"""

from __future__ import annotations

from aquaembed.matching.engine import (
    CONFUSION,
    FN,
    FP,
    IGNORED,
    TP,
    TYPE_NAMES,
    Assignment,
    Candidates,
    CocoMatches,
    MatchTable,
    assign,
    build_candidates,
    coco_matches,
    match,
)
from aquaembed.matching.options import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MODE, MatchOptions

__all__ = [
    "TP", "FP", "FN", "CONFUSION", "IGNORED", "TYPE_NAMES",
    "Assignment", "Candidates", "CocoMatches", "MatchTable", "MatchOptions",
    "DEFAULT_CONF", "DEFAULT_IOU", "DEFAULT_MODE",
    "assign", "build_candidates", "coco_matches", "match",
]
