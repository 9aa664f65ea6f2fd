"""Domain-adversarial fine-tuning (adapt method ``adversarial``; gradient reversal, Ganin and
Lempitsky 2015, "Unsupervised domain adaptation by backpropagation").

Each training step also runs the detector on as many random crops of the real stacks as the
simulated batch holds (same slice count and size, in the same forward pass; a simulated batch
with more slices than any real stack is cut to its closest ones). A small head reads
the detector's bottleneck features (mean over the map, [B, C]) and learns to tell the two apart;
its gradient reaches the detector reversed and scaled by ``weight``, so the encoder learns
features the head cannot separate while the detection loss keeps them useful. The real crops
carry no labels: only the domain loss sees them.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class _Reverse(torch.autograd.Function):
    """Identity forward; gradient times -1 backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return -grad


def reverse_gradient(x: torch.Tensor) -> torch.Tensor:
    """``x`` unchanged; the gradient flowing back through it is negated."""
    return _Reverse.apply(x)


class Adversary(nn.Module):
    """The domain head and the real crops of domain-adversarial training.

    ``channels``: the detector's bottleneck width; ``real``: model inputs [n_slices, ny, nx] of
    the real stacks at the detector's pixel size (those smaller than ``crop_px`` (ny, nx), the
    training stacks' size, are left out; none left: ValueError, one line);
    ``weight``: the domain loss's weight in the total loss (the reversed gradient's scale);
    ``seed``: the head's initial weights."""

    def __init__(
        self, channels: int, real: list[np.ndarray], weight: float, crop_px: tuple[int, int],
        seed: int = 0, hidden: int = 32,
    ):  # fmt: skip
        super().__init__()
        ny, nx = crop_px
        self.real = [np.asarray(df, dtype=np.float32) for df in real
                     if df.shape[1] >= ny and df.shape[2] >= nx]  # fmt: skip
        if not self.real:
            raise ValueError(f"needs a real stack of at least {nx} x {ny} px at "
                             "the model's pixel size (the training stacks' size)")  # fmt: skip
        #: the most slices a real stack has: longer simulated batches are cut to their closest
        #: max_slices (every real crop then matches them)
        self.max_slices = max(len(df) for df in self.real)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(),
                                      nn.Linear(hidden, 1))  # fmt: skip
        self.weight = float(weight)
        self.crop_px = (int(ny), int(nx))

    @property
    def key(self) -> str:
        """``w<weight>-<16 hex digits of the real crops' source stacks>``: a resumable state
        trained with this adversary belongs to exactly this weight and these real inputs."""
        digest = hashlib.sha256()
        for df in self.real:
            digest.update(str(df.shape).encode())
            digest.update(df.tobytes())
        return f"w{self.weight:g}-{digest.hexdigest()[:16]}"

    def real_batch(self, n: int, k: int, generator: torch.Generator) -> torch.Tensor:
        """[n, k, ny, nx] crops (``crop_px``) of ``k`` consecutive slices (random start) of real
        stacks with at least ``k`` slices, at random positions, randomly flipped and rotated
        (by multiples of 90 degrees where square, else of 180; draws from ``generator``)."""
        pool = [df for df in self.real if len(df) >= k]

        def draw(high: int) -> int:
            return int(torch.randint(high, (1,), generator=generator))

        ny, nx = self.crop_px
        crops = []
        for _ in range(n):
            df = pool[draw(len(pool))]
            z, y, x = draw(len(df) - k + 1), draw(df.shape[1] - ny + 1), draw(df.shape[2] - nx + 1)
            crop = torch.from_numpy(df[z : z + k, y : y + ny, x : x + nx])
            if draw(2):
                crop = crop.flip(-1)
            turns = draw(4) if ny == nx else 2 * draw(2)
            crops.append(torch.rot90(crop, turns, dims=(-2, -1)))
        return torch.stack(crops)

    def domain_loss(
        self, simulated: torch.Tensor, real: torch.Tensor
    ) -> tuple[torch.Tensor, float]:
        """(BCE of the head on the reversed features, simulated [B, C] labelled 0 and real
        [B', C] labelled 1; the head's accuracy on them)."""
        features = reverse_gradient(torch.cat([simulated, real]).float())
        logits = self.head(features)[:, 0]
        labels = torch.cat([torch.zeros(len(simulated)), torch.ones(len(real))]).to(logits)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        accuracy = float(((logits > 0).float() == labels).float().mean())
        return loss, accuracy

