"""inpaint: partial-convolution (Liu et al. 2018) and Sim-K (Iskakov 2018) inpainting.

Trains and runs the models that consume QD-IMD masks, retrieves similar images
by VGG-16 features, and evaluates methods per hole-ratio bucket.
"""
from .fill.classical import fill_classical
from .nn.models import create_model, list_models
from .nn.pconv import PartialConv2d, partial_conv2d
from .nn.unet import PConvUNet, SimKUNet
from .nn.vgg import VGG16, VGG16Features, imagenet_normalize, load_vgg16
from .retrieval.database import ImageDB, build_database, load_database_vgg
from .retrieval.descriptors import DescriptorConfig
from .retrieval.search import FaissConfig, build_faiss_index, precompute_topk, search_exact, search_faiss
from .retrieval.simk import fill_simk
from .evaluation.metrics import aggregate, image_metrics, l1_percent, psnr, ssim
from .nn.inception import Inception3, inception_probs, inception_score, load_inception
from .evaluation.evaluate import EvalConfig, evaluate_methods
from .evaluation.fid import fid_from_features
from .evaluation.ids import discriminative_scores
from .evaluation.lpips import load_lpips, lpips_scores
from .nn.fid_inception import fid_features, load_fid_inception

__all__ = [
    # layers and models
    "fill_classical", "create_model", "list_models", "PartialConv2d", "partial_conv2d", "PConvUNet", "SimKUNet",
    # VGG-16 and retrieval
    "VGG16", "VGG16Features", "imagenet_normalize", "load_vgg16",
    "ImageDB", "build_database", "load_database_vgg", "DescriptorConfig", "FaissConfig", "build_faiss_index",
    "precompute_topk", "search_exact", "search_faiss", "fill_simk",
    # evaluation
    "aggregate", "image_metrics", "l1_percent", "psnr", "ssim",
    "Inception3", "inception_probs", "inception_score", "load_inception", "EvalConfig", "evaluate_methods",
    "fid_from_features", "discriminative_scores", "load_lpips", "lpips_scores", "fid_features", "load_fid_inception",
]
