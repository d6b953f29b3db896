"""Mask files on disk: writing runs (parallel, atomic, resumable), layouts, reading mask folders, contact sheets."""
