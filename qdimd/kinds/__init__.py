"""Mask kinds of the inpainting literature, seeded per mask: QD-IMD (``qdimd``), LaMa
(``lama-thin``, ``lama-medium``, ``lama-thick``, ``lama-train``), MAT (``mat``), CoModGAN
(``comodgan``), DeepFill v2 (``deepfill``) and boxes (``box``), plus mixtures. See
docs/mask-kinds.md."""
from .box import BoxOptions, BoxParams, render_box, sample_box_params
from .deepfill import DeepfillOptions, DeepfillParams, render_deepfill, sample_deepfill_params
from .generator import KindGenerator, KindParams, create_generator, render_kind_params, sample_kind_params
from .lama import LAMA_KINDS, LamaOptions, LamaParams, render_lama, sample_lama_params
from .mat import MAT_VARIANTS, MatOptions, MatParams, render_mat, sample_mat_params
from .spec import KIND_NAMES, KindSpec, parse_kind
from .targeted import KindTargetedGenerator, create_targeted

__all__ = ["BoxOptions", "BoxParams", "DeepfillOptions", "DeepfillParams", "KIND_NAMES", "KindGenerator", "KindParams",
           "KindSpec", "KindTargetedGenerator", "LAMA_KINDS", "LamaOptions", "LamaParams", "MAT_VARIANTS", "MatOptions", "MatParams",
           "create_generator", "create_targeted", "parse_kind", "render_box", "render_deepfill", "render_kind_params", "render_lama", "render_mat",
           "sample_box_params", "sample_deepfill_params", "sample_kind_params", "sample_lama_params",
           "sample_mat_params"]
