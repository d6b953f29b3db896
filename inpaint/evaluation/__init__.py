"""Evaluation (``inpaint eval``): metrics, mask/image pairing, methods by name, the report."""
