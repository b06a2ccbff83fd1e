"""Label issues: which labels are probably wrong, of what kind, and the suggested fix.

:mod:`~aquaembed.analysis.label_issues.scores` (the scores of every label and inference,
and how they are computed), :mod:`~aquaembed.analysis.label_issues.neighbours` (the
label-crop kNN from the FAISS crop index) and :mod:`~aquaembed.analysis.label_issues.records`
(ranked records with reasons and fixes; the report section).
"""

from __future__ import annotations

from aquaembed.analysis.label_issues.neighbours import Neighbours, crop_neighbours
from aquaembed.analysis.label_issues.records import issue_records, label_issues_section
from aquaembed.analysis.label_issues.scores import (
    ISSUE_KINDS,
    LABEL_KINDS,
    LabelIssueScores,
    score_label_issues,
)

__all__ = [
    "ISSUE_KINDS",
    "LABEL_KINDS",
    "LabelIssueScores",
    "Neighbours",
    "crop_neighbours",
    "issue_records",
    "label_issues_section",
    "score_label_issues",
]
