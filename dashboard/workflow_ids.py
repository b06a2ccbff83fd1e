"""Component ids of the comparison / custom-metric / scenario page."""

from __future__ import annotations

VIEW = "compare"
"""The page's ``view`` value (its tab)."""

# the metric and the scenario are the header's controls (ids.METRIC, ids.SCENARIO)
MODEL_B = "wf-model-b"  # the inference set to compare with the header's
OVERALL = "wf-overall"
REPORT = "wf-report"
FRAMES = "wf-frames"
SC_NAME = "wf-sc-name"
SC_WHERE = "wf-sc-where"
SC_SAVE = "wf-sc-save"
SC_LASSO = "wf-sc-lasso"
SC_DELETE = "wf-sc-delete"
SC_MSG = "wf-sc-msg"
SC_VERSION = "wf-sc-version"  # bumped after a save / delete so the scenario list refreshes
CMP_PANEL = "wf-cmp-panel"
CMP_COUNTS = "wf-cmp-counts"
CMP_FRAME = "wf-cmp-frame"
CMP_CROP = "wf-cmp-crop"
CMP_DIFF = "wf-cmp-diff"
CMP_CELL = "wf-cmp-cell"
CMP_CELL_TITLE = "wf-cmp-cell-title"
REG_STATUS = "wf-reg-status"  # "where B regressed": counts and timing
REG_CLUSTERS = "wf-reg-clusters"  # cards of the clusters of labels B broke
REG_SLICES = "wf-reg-slices"  # cards of the slices where B broke more of A's found labels
REG_CLUSTER_CARD = "wf-reg-cluster-card"  # pattern-matching id type: {"type": ..., "index": cluster id}
REG_SLICE_CARD = "wf-reg-slice-card"  # {"type": ..., "index": rank of the slice}
