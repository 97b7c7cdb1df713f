"""The closed-form least-squares label solver against direct numerical solutions."""

import torch

import pytest

from mgdd.ridge import ridge_predict, ridge_predictor, solve_labels, solve_labels_across_networks


def _problem(m=6, n=40, d=12, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    syn = torch.randn(m, d, generator=g, dtype=torch.float64)
    real = torch.randn(n, d, generator=g, dtype=torch.float64)
    targets = torch.nn.functional.one_hot(torch.randint(k, (n,), generator=g), k).double()
    return syn, real, targets


def test_predictor_equals_primal_ridge_regression():
    syn, real, _ = _problem()
    labels = torch.randn(6, 3, dtype=torch.float64)
    gram = syn @ syn.T
    lam = 1e-3 * gram.diagonal().mean()
    # primal ridge head on synthetic features: W = S^T (S S^T + lam I)^-1 L (kernel form) == (S^T S + lam I)^-1 S^T L
    w = torch.linalg.solve(syn.T @ syn + lam * torch.eye(12, dtype=torch.float64), syn.T @ labels)
    assert torch.allclose(ridge_predict(syn, labels, real, ridge=1e-3), real @ w, atol=1e-8)


def test_labels_minimise_the_regularised_objective():
    syn, real, targets = _problem()
    labels = solve_labels(syn, real, targets, ridge=1e-3, label_ridge=1e-4)
    p = ridge_predictor(syn, real, ridge=1e-3)
    mu = 1e-4 * (p.T @ p).diagonal().mean()
    direct = torch.linalg.lstsq(
        torch.cat([p, mu.sqrt() * torch.eye(6, dtype=torch.float64)]),
        torch.cat([targets, torch.zeros(6, 3, dtype=torch.float64)]),
    ).solution
    assert torch.allclose(labels, direct, atol=1e-6)

    def objective(lab):
        return ((p @ lab - targets) ** 2).sum() + mu * (lab**2).sum()

    for _ in range(5):
        assert objective(labels) <= objective(labels + 1e-3 * torch.randn_like(labels))


def test_scale_free_and_batched():
    syn, real, targets = _problem()
    a = solve_labels(syn, real, targets)
    b = solve_labels(10 * syn, 10 * real, targets)
    assert torch.allclose(a, b, atol=1e-6)
    syn2, real2, targets2 = _problem(seed=1)
    batched = solve_labels(torch.stack([syn, syn2]), torch.stack([real, real2]), torch.stack([targets, targets2]))
    assert torch.allclose(batched[0], a, atol=1e-8)
    assert torch.allclose(batched[1], solve_labels(syn2, real2, targets2), atol=1e-8)


def test_gradients_reach_the_features_and_match_finite_differences():
    syn, real, targets = _problem(m=4, n=20, d=5)
    syn.requires_grad_(True)

    def loss(s):
        labels = solve_labels(s, real, targets)
        return ((ridge_predict(s, labels, real) - targets) ** 2).mean()

    assert torch.autograd.gradcheck(loss, (syn,), eps=1e-6, atol=1e-5)


def test_float32_inputs_are_solved_in_float64():
    syn, real, targets = _problem()
    labels = solve_labels(syn.float(), real.float(), targets.float())
    assert labels.dtype == torch.float64
    assert torch.allclose(labels, solve_labels(syn, real, targets), atol=1e-4)


def test_labels_across_networks_minimise_the_summed_objective():
    (syn, real, targets), (syn2, real2, _) = _problem(), _problem(seed=1)
    one = solve_labels_across_networks(syn[None], real[None], targets)
    assert torch.allclose(one, solve_labels(syn, real, targets), atol=1e-8)  # one network: the usual solve
    labels = solve_labels_across_networks(torch.stack([syn, syn2]), torch.stack([real, real2]), targets)
    p = ridge_predictor(torch.stack([syn, syn2]), torch.stack([real, real2]))
    mu = 1e-4 * (p.transpose(1, 2) @ p).sum(0).diagonal().mean()
    lab = labels.clone().requires_grad_(True)
    objective = ((p @ lab - targets) ** 2).sum() + mu * (lab**2).sum()
    (grad,) = torch.autograd.grad(objective, lab)
    assert grad.abs().max() < 1e-8  # the stationary point of the summed objective
    # and not either network's own solution
    assert not torch.allclose(labels, solve_labels(syn, real, targets), atol=1e-3)
    assert not torch.allclose(labels, solve_labels(syn2, real2, targets), atol=1e-3)


def test_labels_across_networks_reject_unstacked_features():
    syn, real, targets = _problem()
    with pytest.raises(ValueError, match="stacks"):
        solve_labels_across_networks(syn, real, targets)
    with pytest.raises(ValueError, match="stacks"):
        solve_labels_across_networks(torch.stack([syn, syn]), real[None], targets)
