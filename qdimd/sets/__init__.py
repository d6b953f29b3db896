"""Mask sets: fixed bucketed test splits, sorting existing masks into buckets, statistics."""
