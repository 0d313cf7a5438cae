"""Beyond one machine: batch scoring on Ray Data, and data-parallel training under torchrun.

:mod:`~emobalance.distributed.ray_engine`
    ``emobalance predict --engine ray``: :func:`score_files` scores Parquet / CSV / JSONL
    files on a Ray actor pool and publishes the output folder atomically;
    :func:`ray_score_texts` does the same for texts in memory (pseudo-labelling);
    :class:`Predictor` is a ``map_batches`` UDF for any Ray Dataset. Any model kind of
    :func:`emobalance.models.registry.load_model` runs there. Extra ``distributed``.
:mod:`~emobalance.distributed.files`
    The engine's input listing, task planning, row reading and part writing (pyarrow
    filesystems: local paths or URIs such as ``s3://``).
:mod:`~emobalance.distributed.torchrun`
    ``emobalance train --distributed`` under ``torchrun``: :func:`init_distributed`,
    :class:`DistInfo`, :func:`dist_rank`.
"""

from __future__ import annotations

from .files import (
    INPUT_FORMATS,
    OUTPUT_FORMATS,
    PROBA_COLUMNS,
    SUCCESS,
    SUCCESS_FORMAT,
    input_format,
    iter_records,
    list_inputs,
    plan_tasks,
    resolve_filesystem,
)
from .ray_engine import (
    ModelPayload,
    Predictor,
    connect,
    label_names,
    probe_address,
    ray_score_texts,
    require_ray,
    score_files,
)
from .torchrun import DistInfo, dist_rank, init_distributed

__all__ = [
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "PROBA_COLUMNS",
    "SUCCESS",
    "SUCCESS_FORMAT",
    "DistInfo",
    "ModelPayload",
    "Predictor",
    "connect",
    "dist_rank",
    "init_distributed",
    "input_format",
    "iter_records",
    "label_names",
    "list_inputs",
    "plan_tasks",
    "probe_address",
    "ray_score_texts",
    "require_ray",
    "resolve_filesystem",
    "score_files",
]
