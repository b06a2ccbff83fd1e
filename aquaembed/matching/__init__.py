"""THE matcher: options, candidate pairs, the assignment kernels and the match table.

Everything about correctness is derived from :class:`MatchTable`; there is no other
matcher in aquaembed. Layout: :mod:`~aquaembed.matching.options` (:class:`MatchOptions`),
:mod:`~aquaembed.matching.candidates` (overlapping pairs, once per inference set),
:mod:`~aquaembed.matching.kernels` (optimal assignment, numba),
:mod:`~aquaembed.matching.greedy` (greedy assignment, numba),
:mod:`~aquaembed.matching.table` (:func:`match`, :class:`MatchTable`),
:mod:`~aquaembed.matching.sweep` (the optimal matcher at many confidence thresholds) and
:mod:`~aquaembed.matching.coco` (COCOeval's matching, for mAP).
"""

from __future__ import annotations

from aquaembed.matching.candidates import Candidates, build_candidates
from aquaembed.matching.coco import CocoMatches, coco_matches
from aquaembed.matching.options import DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MODE, MatchOptions
from aquaembed.matching.sweep import match_and_sweep, sweep_counts
from aquaembed.matching.table import (
    CONFUSION,
    FN,
    FP,
    IGNORED,
    TP,
    TYPE_NAMES,
    Assignment,
    MatchTable,
    assign,
    match,
)

__all__ = [
    "TP", "FP", "FN", "CONFUSION", "IGNORED", "TYPE_NAMES",
    "Assignment", "Candidates", "CocoMatches", "MatchTable", "MatchOptions",
    "DEFAULT_CONF", "DEFAULT_IOU", "DEFAULT_MODE",
    "assign", "build_candidates", "coco_matches", "match", "match_and_sweep", "sweep_counts",
]
