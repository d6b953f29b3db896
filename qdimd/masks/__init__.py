"""Masks from strokes: Algorithm 1 parameters and rendering, augmentation, targeted generation."""
