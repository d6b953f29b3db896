"""Retrieval for Sim-K: VGG-16 descriptors, the image database, k-NN search, the two-step Sim-K fill."""
