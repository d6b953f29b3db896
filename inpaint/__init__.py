"""inpaint: partial-convolution (Liu et al. 2018) and Sim-K (Iskakov 2018) inpainting.

Trains and runs the models that consume QD-IMD masks, retrieves similar images
by VGG-16 features, and evaluates methods per hole-ratio bucket.
"""
__all__ = [
    # layers and models (helper: models)
    # vgg, retrieval (helper: retrieval)
    # evaluation (helper: eval)
]
