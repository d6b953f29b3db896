"""inpaint: partial-convolution (Liu et al. 2018) and Sim-K (Iskakov 2018) inpainting.

Trains and runs the models that consume QD-IMD masks, retrieves similar images
by VGG-16 features, and evaluates methods per hole-ratio bucket.
"""
from .classical import fill_classical  # layers and models (helper: models)
from .models import create_model, list_models  # layers and models (helper: models)
from .pconv import PartialConv2d, partial_conv2d  # layers and models (helper: models)
from .unet import PConvUNet, SimKUNet  # layers and models (helper: models)
from .vgg import VGG16, VGG16Features, imagenet_normalize, load_vgg16  # vgg, retrieval (helper: retrieval)
from .database import ImageDB, build_database, load_database_vgg  # vgg, retrieval (helper: retrieval)
from .descriptors import DescriptorConfig  # vgg, retrieval (helper: retrieval)
from .search import FaissConfig, build_faiss_index, precompute_topk, search_exact, search_faiss  # vgg, retrieval (helper: retrieval)
from .simk import fill_simk  # vgg, retrieval (helper: retrieval)
from .metrics import aggregate, image_metrics, l1_percent, psnr, ssim  # evaluation (helper: eval)
from .inception import Inception3, inception_probs, inception_score, load_inception  # evaluation (helper: eval)
from .evaluate import EvalConfig, evaluate_methods  # evaluation (helper: eval)

__all__ = [
    # layers and models (helper: models)
    "fill_classical", "create_model", "list_models", "PartialConv2d", "partial_conv2d", "PConvUNet", "SimKUNet",
    # vgg, retrieval (helper: retrieval)
    "VGG16", "VGG16Features", "imagenet_normalize", "load_vgg16",
    "ImageDB", "build_database", "load_database_vgg", "DescriptorConfig", "FaissConfig", "build_faiss_index",
    "precompute_topk", "search_exact", "search_faiss", "fill_simk",
    # evaluation (helper: eval)
    "aggregate", "image_metrics", "l1_percent", "psnr", "ssim",
    "Inception3", "inception_probs", "inception_score", "load_inception", "EvalConfig", "evaluate_methods",
]
