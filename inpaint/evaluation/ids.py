"""Paired and unpaired Inception discriminative scores, P-IDS and U-IDS (Zhao et al. 2021, CoModGAN), as MAT computes them.

A linear SVM (scikit-learn's ``LinearSVC(dual=False)``: squared hinge loss,
L2 penalty, ``C = 1``, on the raw features) is fitted to tell the Inception
pool3 features of the ground truths (label 1) from those of the outputs
(label 0), and evaluated on the same features:

- U-IDS: the SVM's misclassification rate, ``1 - accuracy`` (0.5 = the two
  sets cannot be told apart; 0 = perfectly separable);
- P-IDS: the share of pairs (output i, its ground truth i) in which the
  output gets the higher decision value, ``mean(d(fake_i) > d(real_i))``
  (0 = the ground truth always looks more real).

This is ``compute_ids`` of MAT's ``metrics/inception_discriminative_score.py``
(features from the same 2015-12-05 Inception graph). Identical sets give
U-IDS 0.5 and P-IDS 0 (ties count as not greater); two independent samples
of one distribution give about 0.5 for both. With fewer images than feature
dimensions (2048) any two sets are linearly separable and both scores fall to
0: like FID, P-IDS/U-IDS need thousands of images.
"""
from __future__ import annotations

import numpy as np

from qdimd.errors import InputError


def require_sklearn() -> None:
    """Raise a clear error when scikit-learn (needed by P-IDS/U-IDS) is not installed."""
    try:
        import sklearn.svm  # noqa: F401
    except ImportError:
        raise InputError("--metric pids/uids need scikit-learn: pip install scikit-learn "
                         "(or pip install 'qdimd[inpaint]')") from None


def discriminative_scores(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    """``(p_ids, u_ids)`` of paired feature sets.

    Args:
        real: ``(N, D)`` features of the ground truths.
        fake: ``(N, D)`` features of the outputs, row i paired with ``real[i]``.

    Raises:
        ValueError: sets of different shapes or fewer than one pair.
        InputError: scikit-learn is missing.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.shape != fake.shape or real.ndim != 2 or len(real) < 1:
        raise ValueError(f"Expected two paired (N, D) feature arrays with N >= 1, got {real.shape} and {fake.shape}")
    require_sklearn()
    from sklearn.svm import LinearSVC

    inputs = np.concatenate([real, fake])
    targets = np.concatenate([np.ones(len(real), np.int64), np.zeros(len(fake), np.int64)])
    svm = LinearSVC(dual=False)
    svm.fit(inputs, targets)
    u_ids = 1.0 - float(svm.score(inputs, targets))
    p_ids = float(np.mean(svm.decision_function(fake) > svm.decision_function(real)))
    return p_ids, u_ids
