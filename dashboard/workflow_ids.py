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
