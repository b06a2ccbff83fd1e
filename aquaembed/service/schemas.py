"""Pydantic schemas of the API's responses (kept apart from the library's types).

The library returns plain dicts and numpy arrays; the routers arrange them into these
models, which FastAPI validates and documents in the OpenAPI schema. Undefined ratios
(a zero denominator) are ``null``, never 0 or 1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aquaembed._typing import MatchType

__all__ = [
    "ErrorDetail",
    "ErrorBody",
    "Health",
    "DatasetSummary",
    "DatasetList",
    "Counts",
    "PRSeries",
    "PRCurves",
    "Metrics",
    "FrameRow",
    "FramePage",
    "MatchRow",
    "MatchPage",
    "EncodedArray",
    "Projection",
    "FrameNeighbor",
    "CropNeighbor",
    "Similar",
    "MetaValue",
]

MetaValue = bool | int | float | str | None
"""One frame-metadata value (``null`` when missing or NaN)."""

Ratio = float | None
"""A precision, recall or F1 in [0, 1], ``null`` when undefined."""


class ErrorDetail(BaseModel):
    """One problem found while validating a request."""

    loc: list[str] = Field(description="where: ['query', 'conf'], ['path', 'frame_id'], ...")
    msg: str = Field(description="what is wrong")
    type: str = Field(description="pydantic error type")
    input: str | None = Field(default=None, description="the value received (shortened repr)")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="kind: not_found, invalid_parameter, internal_error, ...", examples=["not_found"])
    message: str = Field(description="one human-readable line", examples=["unknown dataset 'x'; known: demo"])
    parameter: str | None = Field(default=None, description="the offending request parameter, when known")
    details: list[ErrorDetail] | None = Field(default=None, description="every validation problem (422 only)")


class Health(BaseModel):
    """Liveness of the service."""

    status: Literal["ok"] = "ok"
    version: str = Field(description="aquaembed version")
    datasets: int = Field(description="number of stored datasets in the data directory")


class DatasetSummary(BaseModel):
    """What a stored dataset holds."""

    name: str
    frames: int = Field(description="number of frames")
    labels: int = Field(description="number of ground-truth boxes")
    classes: list[str] = Field(description="class names in category-id order (no background)")
    inference_sets: dict[str, int] = Field(description="inference-set name -> number of inferences")
    embeddings: list[str] = Field(description="stored embedding kinds: frame, label, pred-<model>")
    frame_metadata: list[str] = Field(description="per-frame metadata fields (filterable, sortable)")


class DatasetList(BaseModel):
    """Every stored dataset."""

    datasets: list[DatasetSummary]


class Counts(BaseModel):
    """Counts and the ratios derived from them."""

    tp: int
    fp: int
    fn: int
    precision: Ratio
    recall: Ratio
    f1: Ratio


class PRSeries(BaseModel):
    """Precision and recall at each confidence threshold of a sweep."""

    precision: list[Ratio]
    recall: list[Ratio]


class PRCurves(BaseModel):
    """Precision-recall curves: the confidence threshold swept at the request's IoU threshold."""

    thresholds: list[float]
    per_class: dict[str, PRSeries]
    overall: PRSeries


class Metrics(BaseModel):
    """The ``evaluate`` JSON of DESIGN.md without ``matches`` and ``per_frame``."""

    model: str = Field(description="the inference set evaluated")
    conf_threshold: float
    iou_threshold: float
    classes: list[str] = Field(description="class names, category-id order, 'background' last")
    confusion_matrix: list[list[int]] = Field(description="(C+1) x (C+1); rows = label class, columns = inference class")
    per_class: dict[str, Counts]
    overall: Counts
    pr_curves: PRCurves | None = Field(
        default=None,
        description="present unless pr=false or a custom metric= (restricted to scenario=/frames= when given)",
    )
    coco: dict[str, float | None] | None = Field(
        default=None, description="COCO AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (map=true)"
    )
    metric: str | None = Field(default=None, description="the custom metric the numbers come from (metric=)")
    scenario: str | None = Field(default=None, description="the scenario the numbers are restricted to (scenario=)")
    notes: list[str] | None = Field(
        default=None, exclude_if=lambda v: v is None,
        description="why something asked for is absent (pr_curves and coco need the built-in matching); "
        "only when there is something to say",
    )


class FrameRow(Counts):
    """One frame with its metrics and metadata."""

    id: int = Field(description="frame id (COCO image_id)")
    file_name: str
    metadata: dict[str, MetaValue]
    scalars: dict[str, float | None] = Field(default_factory=dict, description="per-frame scalar metrics (add-metric)")


class FramePage(BaseModel):
    """A page of the frame table."""

    model: str
    conf_threshold: float
    iou_threshold: float
    total: int = Field(description="frames passing the filters")
    offset: int
    limit: int
    rows: list[FrameRow]


class SliceRow(Counts):
    """Metrics of the frames that share one value of a metadata field."""

    value: str = Field(description="the field's value (as text)")
    frames: int


class SliceTable(BaseModel):
    """Metrics per value of a frame metadata field (per scene, camera, time of day, ...)."""

    model: str
    conf_threshold: float
    iou_threshold: float
    field: str
    class_: str | None = Field(alias="class", description="the class counted (null: all classes)")
    rows: list[SliceRow]

    model_config = {"populate_by_name": True}


class MatchRow(BaseModel):
    """One row of the match table (a contract ``matches`` entry plus boxes)."""

    image_id: int
    gt_id: int | None = Field(description="COCO annotation id of the label; null for an FP")
    pred_index: int | None = Field(description="0-based position of the inference in its set; null for an FN")
    gt_class: str
    pred_class: str
    iou: float | None
    score: float | None
    type: MatchType
    gt_box: list[float] | None = Field(description="label box [x1, y1, x2, y2], pixels")
    pred_box: list[float] | None = Field(description="inference box [x1, y1, x2, y2], pixels")
    area: float | None = Field(description="area of the label's box (the inference's when there is no label), px^2")
    aspect: float | None = Field(description="width / height of that box")


class MatchPage(BaseModel):
    """A page of the rows of one confusion cell (or any slice of the match table)."""

    model: str
    conf_threshold: float
    iou_threshold: float
    total: int = Field(description="rows in the slice")
    offset: int
    limit: int
    rows: list[MatchRow]


class EncodedArray(BaseModel):
    """A numeric array: base64 of its raw little-endian bytes, C order.

    Decode with ``numpy.frombuffer(base64.b64decode(data), dtype).reshape(shape)`` or,
    in a browser, a typed array over the decoded bytes (``<f4`` -> ``Float32Array``,
    ``<i4`` -> ``Int32Array``, ``|i1`` -> ``Int8Array``, ...). Integers come in the
    smallest signed type holding their range. A column whose values were strings is
    sent as ``<i4`` codes into ``categories`` (code -1: missing).
    """

    dtype: str = Field(description="numpy dtype string: '<f4', '<i8', '<i4', '<i2', '|i1', '|u1'", examples=["<f4"])
    shape: list[int]
    data: str = Field(description="base64 (standard alphabet, padded) of the array's bytes")
    categories: list[str] | None = Field(default=None, description="labels of the codes of a categorical column")


class Projection(BaseModel):
    """2-D embedding map: ids, coordinates and colour fields as encoded arrays."""

    dataset: str
    kind: Literal["frame", "crop"]
    model: str | None = Field(default=None, description="the inference set (null: the dataset has none)")
    conf_threshold: float
    iou_threshold: float
    n: int = Field(description="number of points")
    columns: dict[str, EncodedArray] = Field(
        description="ids, x, y and colour fields, each of shape (n,): frame kind: tp, fp, fn, precision, "
        "recall, f1 (NaN = undefined); crop kind: source, class, type, score (NaN for labels), frame_id"
    )
    metadata: dict[str, EncodedArray] = Field(
        default_factory=dict, description="frame kind: the frame-metadata columns, each of shape (n,)"
    )
    codes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="names of integer codes: type (0 TP, 1 FP, 2 FN, 3 confusion, 4 ignored; -1 below the "
        "confidence threshold), class (class index -> name), source",
    )
    extra: dict[str, MetaValue | list[MetaValue]] = Field(default_factory=dict, description="other scalar facts")


class FrameNeighbor(Counts):
    """A frame found by similarity search, with its metrics and metadata at the thresholds."""

    model_config = ConfigDict(extra="allow")

    id: int = Field(description="frame id")
    similarity: float | None = Field(default=None, description="cosine similarity in [-1, 1] (null for the query)")
    metadata: dict[str, MetaValue]


class CropNeighbor(BaseModel):
    """A box crop found by similarity search, with its match type at the thresholds."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: int = Field(description="label id (source=label) or inference index (source=pred)")
    similarity: float | None = Field(default=None, description="cosine similarity in [-1, 1] (null for the query)")
    source: Literal["label", "pred"]
    class_: str = Field(alias="class", description="class name")
    type: str = Field(description="TP, FP, FN, confusion, ignored or 'below threshold'")
    score: float | None = Field(description="inference confidence (null for labels)")
    frame_id: int = Field(description="the frame holding the box")


class Similar(BaseModel):
    """Nearest neighbours of a frame or a crop."""

    dataset: str
    kind: Literal["frame", "crop"]
    id: int
    k: int
    model: str | None = Field(default=None, description="the inference set (null: the dataset has none)")
    source: Literal["label", "pred"] | None
    conf_threshold: float
    iou_threshold: float
    query: FrameNeighbor | CropNeighbor | None = Field(default=None, description="the query itself, same fields")
    neighbors: list[FrameNeighbor] | list[CropNeighbor] = Field(
        description="nearest first (the query is not among them): frames for kind=frame, crops for kind=crop"
    )
