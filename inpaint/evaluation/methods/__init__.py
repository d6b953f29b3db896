"""The methods ``inpaint eval`` scores: built-ins, prediction folders and Python plug-ins, under one protocol.

- :mod:`~inpaint.evaluation.methods.builtin`: method specs, the built-in methods and :func:`load_method`;
- :mod:`~inpaint.evaluation.methods.folder`: ``folder:DIR``, another tool's predictions;
- :mod:`~inpaint.evaluation.methods.plugin`: ``py:MODULE:FUNCTION`` and ``inpaint.methods`` entry points;
- :mod:`~inpaint.evaluation.methods.protocol`: output checks, compositing and ``known_drift``.
"""
from .builtin import KINDS, Method, MethodSpec, fill_identity, load_method, parse_method, parse_methods
from .folder import PredictionIndex, changed_stems, index_predictions
from .plugin import ENTRY_POINT_GROUP, entry_point_names, resolve_callable
from .protocol import DRIFT_WARNING, Filled, Query, check_output, composite, fill_many, known_drift

__all__ = ["KINDS", "Method", "MethodSpec", "fill_identity", "load_method", "parse_method", "parse_methods",
           "PredictionIndex", "changed_stems", "index_predictions", "ENTRY_POINT_GROUP", "entry_point_names", "resolve_callable",
           "DRIFT_WARNING", "Filled", "Query", "check_output", "composite", "fill_many", "known_drift"]
