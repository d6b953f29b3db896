"""The outputs of ``inpaint eval``, aggregated from the run folder.

- :mod:`~inpaint.evaluation.report.summary`: the cells (means, std, IS, FID, P-IDS/U-IDS, known drift);
- :mod:`~inpaint.evaluation.report.tables`: ``results.csv``, ``report.md``, ``results.json``, the grids;
- :mod:`~inpaint.evaluation.report.protocol`: the protocol ``results.json`` records (weights by SHA-256);
- :mod:`~inpaint.evaluation.report.worst`: each method's worst images per bucket, kept during the run;
- :mod:`~inpaint.evaluation.report.html`: ``report.html``, one self-contained page with plots.
"""
from .summary import read_per_image, summarize
from .tables import format_cell, result_columns, table_markdown, write_report

__all__ = ["read_per_image", "summarize", "format_cell", "result_columns", "table_markdown", "write_report"]
