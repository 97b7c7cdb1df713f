"""Synthetic labels by least squares in feature space (kernel ridge regression).

With synthetic features ``S`` (m x d), real features ``R`` (n x d) and real one-hot targets
``Y`` (n x K), a ridge head fitted on the synthetic set with labels ``L`` predicts the real
data as ``P L`` where ``P = R S^T (S S^T + lambda I)^{-1}`` (n x m). The synthetic labels are
the least-squares solution ``L = argmin ||P L - Y||^2 + mu ||L||^2``. Both ridges are relative
to the trace of the matrix they regularise, so the solve is scale-free. Solves run in float64
through Cholesky factors and are differentiable, so a loss on ``P L`` reaches the features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_RIDGE = 1e-3  # the ridge head's ridge, relative to the kernel's mean diagonal
DEFAULT_LABEL_RIDGE = 1e-4  # the label solve's ridge, relative to the mean diagonal of P^T P


def _relative_ridge(gram: Tensor, ridge: float) -> Tensor:
    """``gram + ridge * mean(diag(gram)) * I`` (batched)."""
    m = gram.shape[-1]
    scale = torch.diagonal(gram, dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)
    eye = torch.eye(m, dtype=gram.dtype, device=gram.device)
    return gram + (ridge * scale)[..., None, None] * eye


def _spd_solve(matrix: Tensor, rhs: Tensor) -> Tensor:
    """Solve ``matrix X = rhs`` for symmetric positive-definite ``matrix`` via Cholesky."""
    factor, info = torch.linalg.cholesky_ex(matrix)
    if bool((info != 0).any()):
        raise FloatingPointError("kernel matrix is not positive definite; increase the ridge")
    return torch.cholesky_solve(rhs, factor)


def ridge_predictor(syn_features: Tensor, query_features: Tensor, ridge: float = DEFAULT_RIDGE) -> Tensor:
    """``P = Q S^T (S S^T + lambda I)^{-1}``: maps synthetic labels to ridge-head predictions on queries."""
    s = syn_features.double()
    q = query_features.double()
    gram = _relative_ridge(s @ s.transpose(-1, -2), ridge)
    cross = q @ s.transpose(-1, -2)  # (n, m)
    # P^T = gram^{-1} cross^T  (gram symmetric)
    return _spd_solve(gram, cross.transpose(-1, -2)).transpose(-1, -2)


def solve_labels(
    syn_features: Tensor,
    real_features: Tensor,
    real_targets: Tensor,
    ridge: float = DEFAULT_RIDGE,
    label_ridge: float = DEFAULT_LABEL_RIDGE,
) -> Tensor:
    """Synthetic labels (m x K) that make the synthetic ridge head best predict ``real_targets``.

    Args:
        syn_features: (..., m, d) features of the synthetic samples.
        real_features: (..., n, d) features of real samples.
        real_targets: (..., n, K) their targets (one-hot, or any regression target).
        ridge: ridge of the head fitted on the synthetic set, relative to the kernel's mean diagonal.
        label_ridge: ridge of the label solve, relative to the mean diagonal of ``P^T P``.

    Returns:
        float64 labels, differentiable w.r.t. both feature sets.
    """
    predictor = ridge_predictor(syn_features, real_features, ridge)  # (n, m)
    normal = _relative_ridge(predictor.transpose(-1, -2) @ predictor, label_ridge)
    return _spd_solve(normal, predictor.transpose(-1, -2) @ real_targets.double())


def solve_labels_across_networks(
    syn_features: Tensor,
    real_features: Tensor,
    real_targets: Tensor,
    ridge: float = DEFAULT_RIDGE,
    label_ridge: float = DEFAULT_LABEL_RIDGE,
) -> Tensor:
    """One set of synthetic labels (m x K) for the ridge heads of several networks at once.

    The least-squares labels of the summed objective ``sum_j ||P_j L - Y||^2 + mu ||L||^2`` over the
    networks ``j`` (the leading dimension of both feature stacks): the fixed point that learning the
    labels by gradient against a pool of frozen networks converges to, for fixed samples, in one solve.
    One network's labels fit that network's quirks; labels that hold across networks transfer better
    to the network trained on the set.

    Args:
        syn_features: (N, m, d) features of the synthetic samples under N networks.
        real_features: (N, n, d) features of the real samples under the same networks.
        real_targets: (n, K) or (N, n, K) targets of the real samples.
    """
    if syn_features.dim() != 3 or real_features.dim() != 3 or len(syn_features) != len(real_features):
        raise ValueError("syn_features and real_features must be (N, m, d) and (N, n, d) stacks over the same N networks")
    predictor = ridge_predictor(syn_features, real_features, ridge)  # (N, n, m)
    targets = real_targets.double().expand(len(predictor), *real_targets.shape[-2:])
    normal = _relative_ridge((predictor.transpose(-1, -2) @ predictor).sum(0), label_ridge)
    return _spd_solve(normal, (predictor.transpose(-1, -2) @ targets).sum(0))


def ridge_predict(
    syn_features: Tensor, syn_labels: Tensor, query_features: Tensor, ridge: float = DEFAULT_RIDGE
) -> Tensor:
    """Predictions on ``query_features`` of the ridge head fitted on (``syn_features``, ``syn_labels``)."""
    return ridge_predictor(syn_features, query_features, ridge) @ syn_labels.double()


def platt_cross_entropy(prediction: Tensor, log_scale: Tensor, classes: Tensor) -> Tensor:
    """RFAD's Platt-scaled cross-entropy of ridge predictions: ``cross_entropy(exp(log_scale) * prediction, classes)``
    with a learned scale (the predictions of a ridge head are far too flat for a cross-entropy as they are)."""
    return F.cross_entropy(prediction * log_scale.double().exp(), classes)


def centred_targets(labels: Tensor, num_classes: int) -> Tensor:
    """One-hot targets minus 1/C (FRePo's and RFAD's regression targets)."""
    return F.one_hot(labels, num_classes).float() - 1.0 / num_classes
