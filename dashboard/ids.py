"""Component ids of the dashboard, in one place.

Every layout and every callback refers to components through these constants, so a
renamed id cannot leave a callback pointing at nothing. Browser tests use them too.
"""

from __future__ import annotations

# ---- shell: URL, header controls, view tabs
URL = "url"
DATASET = "ctl-dataset"
MODEL = "ctl-model"
CONF = "ctl-conf"
IOU = "ctl-iou"
MATCH_MODE = "ctl-match-mode"  # matching: optimal | greedy
MATCH_FLAGS = "ctl-match-flags"  # matching: ["class_aware", "crowd"] as checked
METRIC = "ctl-metric"  # the metric: "builtin" or a custom metric of the inference set
SCENARIO = "ctl-scenario"  # restrict every page to a saved scenario (None: all frames)
METRIC_PROGRESS = "ctl-metric-progress"  # "metric m: 120 of 512 frames" while a plugin metric runs
METRIC_TICK = "ctl-metric-tick"  # polls the plugin's progress while it runs
VIEW = "ctl-view"
STATE = "state"  # the normalised page state (dataset, model, thresholds, view, kind, colour)
HEADLINE = "headline"
ERROR = "error-banner"
NOTICE = "notice-banner"  # what a bad URL asked for and what is shown instead

VIEWS = ("embedding", "metrics", "frames", "report", "review", "compare")
"""The pages, in tab order (also the ``view`` value in the URL)."""

PAGE_PREFIX = "page-"
"""Each page's container is ``PAGE_PREFIX + view``."""

LAZY_VIEWS = ("metrics", "frames", "report", "review", "compare")
"""Pages whose content is mounted the first time they are shown (see ``pages.shell``)."""

MOUNTED = "pages-mounted"  # the lazy pages mounted so far (a list of view names)

# ---- embedding view
EMB_KIND = "emb-kind"
EMB_COLOUR = "emb-colour"
EMB_GRAPH = "emb-graph"
EMB_NOTE = "emb-note"
EMB_TOOLTIP = "emb-tooltip"
EMB_STATE = "emb-state"  # which rows each trace holds (a small key, not the data)
EMB_SELECTION = "emb-selection"  # compact selection: {curve: [point indices]}
EMB_VIEWPORT = "emb-viewport"  # zoomed ranges (full detail beyond the sampling cap)
EMB_DETAIL = "emb-detail"  # click side panel
EMB_SUMMARY = "emb-summary"  # lasso summary
EMB_LEGEND_NOTE = "emb-legend-note"  # what the legend counts

# ---- metrics view
MET_REPORT = "met-report"
MET_CM_GRAPH = "met-cm-graph"
MET_CM_OPTIONS = "met-cm-options"
MET_CM_TABLE = "met-cm-table"
MET_CLASS_FILTER = "met-class-filter"
MET_PR_GRAPH = "met-pr-graph"
MET_COCO_GRAPH = "met-coco-graph"
MET_CELL = "met-cell"  # the chosen confusion cell {"gt": .., "pred": ..}
MET_EX_SORT = "met-ex-sort"
MET_EX_ORDER = "met-ex-order"
MET_EX_PAGE = "met-ex-page"
MET_EX_PREV = "met-ex-prev"
MET_EX_NEXT = "met-ex-next"
MET_EX_TITLE = "met-ex-title"
MET_EX_GRID = "met-ex-grid"
MET_MANY = "met-many"  # container of the many-class tables
MET_EX_SECTION = "met-ex-section"  # the examples card (scrolled into view on a cell click)
MET_FEW = "met-few"  # container of the heatmap
MET_SCOPE = "met-scope"  # what the numbers are of: metric, scenario, slice, frames
MET_CURVES_NOTE = "met-curves-note"  # why PR curves / COCO are not shown (a custom metric)

# ---- frame grid
FR_FILTER_METRIC = "fr-filter-metric"
FR_FILTER_MIN = "fr-filter-min"
FR_FILTER_MAX = "fr-filter-max"
FR_FILTER_FIELD = "fr-filter-field"
FR_FILTER_VALUES = "fr-filter-values"
FR_SORT = "fr-sort"
FR_ORDER = "fr-order"
FR_PAGE = "fr-page"
FR_PREV = "fr-prev"
FR_NEXT = "fr-next"
FR_TITLE = "fr-title"
FR_GRID = "fr-grid"
FR_SLICE_FIELD = "fr-slice-field"
FR_SLICE_CLASS = "fr-slice-class"
FR_SLICE_TABLE = "fr-slice-table"

# ---- review queue (label issues)
REV_KIND = "rev-kind"
REV_CLASS = "rev-class"
REV_STATUS = "rev-status"
REV_COUNTS = "rev-counts"
REV_ITEM = "rev-item"  # the issue under review: picture, reason, fix
REV_KEY = "rev-key"  # key of the issue shown (a store)
REV_POS = "rev-pos"  # its position in the filtered queue
REV_TICK = "rev-tick"  # bumped after a verdict, to redraw
REV_EDIT_CLASS = "rev-edit-class"
REV_ACCEPT = "rev-accept"
REV_REJECT = "rev-reject"
REV_SKIP = "rev-skip"
REV_PREV = "rev-prev"
REV_NEXT = "rev-next"
REV_NEIGHBOURS = "rev-neighbours"
REV_QUEUE = "rev-queue"
# ---- failure report (aquaembed.dashboard.pages.report)
REP_STATUS = "rep-status"  # "computing ..." while the report runs
REP_PROGRESS = "rep-progress"  # the progress bar and fraction while the report computes
REP_POLL = "rep-poll"  # dcc.Interval polling the report's background job
REP_CLUSTERS = "rep-clusters"
REP_SLICES = "rep-slices"
REP_CLUSTER_CARD = "rep-cluster-card"  # pattern-matching id type: {"type": REP_CLUSTER_CARD, "index": cluster id}
REP_SLICE_CARD = "rep-slice-card"  # {"type": REP_SLICE_CARD, "index": rank of the slice}
REP_FOCUS_BAR = "rep-focus-bar"  # the focus banner over every view (hidden without a focus)
REP_FOCUS = "rep-focus"  # its text: what is isolated
REP_CLEAR = "rep-clear"  # its "show everything" button
