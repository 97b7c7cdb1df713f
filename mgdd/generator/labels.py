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
from torch import Tensor


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


def ridge_predictor(syn_features: Tensor, query_features: Tensor, ridge: float = 1e-3) -> Tensor:
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
    ridge: float = 1e-3,
    label_ridge: float = 1e-4,
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


def ridge_predict(
    syn_features: Tensor, syn_labels: Tensor, query_features: Tensor, ridge: float = 1e-3
) -> Tensor:
    """Predictions on ``query_features`` of the ridge head fitted on (``syn_features``, ``syn_labels``)."""
    return ridge_predictor(syn_features, query_features, ridge) @ syn_labels.double()
