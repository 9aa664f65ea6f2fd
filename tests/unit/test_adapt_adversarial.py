"""Domain-adversarial fine-tuning (iceafm.adapt.adversarial, adapt method ``adversarial``)."""

import numpy as np
import pytest
import torch

from iceafm.adapt.adversarial import Adversary, reverse_gradient


def test_gradient_reversal_negates_only_the_gradient():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = reverse_gradient(x)
    assert torch.equal(y, x)
    (3.0 * y).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -3.0))


def test_real_batch_draws_crops_of_stacks_long_and_large_enough():
    rng = np.random.default_rng(0)
    long = rng.normal(size=(8, 40, 40)).astype(np.float32)
    short = np.full((4, 40, 40), 7.0, np.float32)  # too few slices for k = 6
    small = np.full((8, 20, 20), 9.0, np.float32)  # smaller than the crops: left out
    adversary = Adversary(16, [long, short, small], 0.1, (32, 32))
    assert adversary.max_slices == 8 and len(adversary.real) == 2
    crops = adversary.real_batch(12, 6, torch.Generator().manual_seed(0))
    assert crops.shape == (12, 6, 32, 32)
    assert not torch.any(crops == 7.0) and not torch.any(crops == 9.0)
    every = set(np.round(long.ravel(), 5))
    assert set(np.round(crops.numpy().ravel(), 5)) <= every  # pieces of the long stack only
    assert torch.equal(crops, adversary.real_batch(12, 6, torch.Generator().manual_seed(0)))
    # the state key changes with the weight and with the real stacks' content
    assert adversary.key.startswith("w0.1-")
    assert Adversary(16, [long, short], 0.1, (32, 32)).key == adversary.key  # small one unused
    assert Adversary(16, [long, short], 0.2, (32, 32)).key != adversary.key
    assert Adversary(16, [long + 1, short], 0.1, (32, 32)).key != adversary.key


def test_domain_loss_reverses_into_the_features_and_trains_the_head():
    adversary = Adversary(4, [np.zeros((3, 8, 8), np.float32)], 0.1, (8, 8), seed=1)
    simulated, real = torch.zeros(6, 4), torch.ones(6, 4)
    features = torch.cat([simulated, real]).requires_grad_(True)
    loss, accuracy = adversary.domain_loss(features[:6], features[6:])
    loss.backward()
    # the features receive exactly the opposite of the head's loss gradient ...
    plain = torch.cat([simulated, real]).requires_grad_(True)
    labels = torch.cat([torch.zeros(6), torch.ones(6)])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(adversary.head(plain)[:, 0], labels)
    (grad,) = torch.autograd.grad(bce, plain)
    assert float(grad.abs().max()) > 0 and torch.allclose(features.grad, -grad)
    # ... while the head itself descends: stepping its weights lowers the loss
    with torch.no_grad():
        for p in adversary.head.parameters():
            p -= 0.5 * p.grad
        after, _ = adversary.domain_loss(simulated, real)
    assert float(after) < float(loss.detach()) and 0.0 <= accuracy <= 1.0


def test_too_small_real_stacks_one_line():
    with pytest.raises(ValueError, match=r"needs a real stack of at least 64 x 64 px"):
        Adversary(16, [np.zeros((10, 40, 40), np.float32)], 0.1, (64, 64))
