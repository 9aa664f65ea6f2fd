"""Domain gap between training inputs (simulated, augmented, translated) and real stacks.

:func:`domain_classifier_accuracy`: a small 2D CNN sees crops of the ``k`` closest slices
(channels, each slice normalised) and learns to tell the two domains apart; its accuracy on a
held-out split is the gap (0.5: indistinguishable, 1.0: fully separable). Held out: other entries
for the simulated side (entries alternate between the parts), the right third of every real
stack for the real side (only a few real stacks exist), so no crop is seen in training.
:func:`detector_features`: per-crop features of a detector's bottleneck (global mean over the
bottleneck map, [n, C]) for the FID-style :func:`iceafm.metrics.label_free.frechet_distance`;
the feature network is the detector trained here, nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from iceafm.io.stacks import normalise_slices


def _crops(
    stacks: list[np.ndarray], n: int, k: int, px: int, rng: np.random.Generator,
    columns: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """[n, k, px, px] crops of the ``k`` closest slices (each normalised), stacks drawn at random,
    crop columns inside the fraction ``columns`` of each stack's width."""
    out = np.empty((n, k, px, px), np.float32)
    for i in range(n):
        df = stacks[int(rng.integers(len(stacks)))]
        ny, nx = df.shape[1:]
        x_lo, x_hi = int(columns[0] * nx), int(columns[1] * nx) - px
        y = int(rng.integers(ny - px + 1))
        x = int(rng.integers(x_lo, max(x_hi, x_lo) + 1))
        out[i] = normalise_slices(df[:k, y : y + px, x : x + px])
    return out


class DomainNet(nn.Module):
    """[B, k, px, px] -> logit [B] (real = 1)."""

    def __init__(self, k: int, width: int = 8):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(k, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


def domain_classifier_accuracy(
    simulated: list[np.ndarray],
    real: list[np.ndarray],
    k: int = 3,
    crop_px: int = 32,
    n_train: int = 512,
    n_test: int = 256,
    epochs: int = 5,
    seed: int = 0,
) -> float:
    """Held-out accuracy (balanced classes) of a :class:`DomainNet` trained to separate crops of
    ``simulated`` from ``real`` stacks (lists of [n_h, ny, nx], same pixel size, slice 0
    closest; see the module docstring for the split). CPU, a few seconds."""
    k = min(k, *(s.shape[0] for s in [*simulated, *real]))
    px = min(crop_px, *(min(s.shape[1:]) for s in simulated),
             *(min(s.shape[1], s.shape[2] // 3) for s in real))  # fmt: skip
    sim_train = simulated[0::2] if len(simulated) > 1 else simulated
    sim_test = simulated[1::2] if len(simulated) > 1 else simulated
    rng = np.random.default_rng(seed)
    x_train = np.concatenate([
        _crops(sim_train, n_train // 2, k, px, rng),
        _crops(real, n_train // 2, k, px, rng, (0.0, 2 / 3)),
    ])  # fmt: skip
    x_test = np.concatenate([
        _crops(sim_test, n_test // 2, k, px, rng),
        _crops(real, n_test // 2, k, px, rng, (2 / 3, 1.0)),
    ])  # fmt: skip
    y_train = np.repeat([0.0, 1.0], n_train // 2).astype(np.float32)
    y_test = np.repeat([0.0, 1.0], n_test // 2)
    torch.manual_seed(seed)
    net = DomainNet(k)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(xt)))
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            loss = loss_fn(net(xt[batch]), yt[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = (net(torch.from_numpy(x_test)) > 0).numpy().astype(float)
    return float((pred == y_test).mean())


@torch.no_grad()
def detector_features(
    detector, stacks: list[np.ndarray], n: int = 256, crop_px: int = 32, seed: int = 0,
    columns: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """[n, C] bottleneck features (mean over the map) of ``detector`` (an
    :class:`iceafm.models.Detector`) on random crops of all the detector's slices (or all a
    stack has) of ``stacks``."""
    net = detector.net
    k = min(detector.n_slices, *(s.shape[0] for s in stacks))
    px = min(crop_px, *(min(s.shape[1], int(s.shape[2] * (columns[1] - columns[0])))
                        for s in stacks))  # fmt: skip
    crops = _crops(stacks, n, k, px, np.random.default_rng(seed), columns)
    captured: list[torch.Tensor] = []
    handle = net.bottleneck.register_forward_hook(lambda m, i, o: captured.append(o.mean((2, 3))))
    try:
        for start in range(0, n, 64):
            net(torch.from_numpy(crops[start : start + 64]).to(detector.device))
    finally:
        handle.remove()
    return torch.cat(captured).float().cpu().numpy()
