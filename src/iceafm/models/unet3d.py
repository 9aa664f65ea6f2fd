"""3D U-Net detector network: df stack [n_slices, ny, nx] -> label grid of :mod:`iceafm.labels`.

Architecture (AmorAFM-like, fully convolutional in x, y): a 3D convolutional encoder treats the
height slices as a third axis, halving x, y at each level (and the slice axis once, at the
first level); every encoder level's features are collapsed over the slice axis (mean and max)
so that any number of slices works, and a 2D decoder with skip connections climbs back to the
label grid's stride (``voxel_xy_px`` image pixels per voxel), where a 1x1 head predicts, per
species and voxel layer, a confidence logit and the fractional x, y, z offsets in the voxel.

Per-slice normalisation (:func:`normalise_slices`) is the first step of :meth:`DetectorNet.forward`
so raw Hz stacks and 8-bit grey images enter the network alike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class NetConfig:
    """Network shape. ``width``: channels of the first level (doubled per level); ``depth``:
    encoder levels below the full-resolution one; ``voxel_xy_px``: output stride (image pixels
    per label voxel, a power of two <= 2**depth); ``n_species``, ``n_z``: label grid size."""

    width: int = 16
    depth: int = 3
    voxel_xy_px: int = 4
    n_species: int = 2
    n_z: int = 4

    def to_dict(self) -> dict[str, int]:
        """Plain-dict form (checkpoint metadata)."""
        return asdict(self)

    @property
    def stride(self) -> int:
        """Total x, y downsampling of the encoder (pixels)."""
        return 2**self.depth


def normalise_slices(df: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Zero mean, unit standard deviation per slice: [..., ny, nx] -> same shape (float32).

    A constant slice becomes all zeros."""
    df = df.float()
    mean = df.mean(dim=(-2, -1), keepdim=True)
    std = df.std(dim=(-2, -1), keepdim=True, unbiased=False)
    return (df - mean) / (std + eps)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


class _Block(nn.Module):
    """Two convolutions (3D or 2D) with group norm and SiLU, plus a residual 1x1 projection."""

    def __init__(self, c_in: int, c_out: int, dims: int):
        super().__init__()
        conv = nn.Conv3d if dims == 3 else nn.Conv2d
        self.body = nn.Sequential(
            conv(c_in, c_out, 3, padding=1),
            _norm(c_out),
            nn.SiLU(),
            conv(c_out, c_out, 3, padding=1),
            _norm(c_out),
        )
        self.skip = conv(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


def _collapse(x: torch.Tensor) -> torch.Tensor:
    """[B, C, D, H, W] -> [B, 2C, H, W]: mean and max over the slice axis."""
    return torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)


class DetectorNet(nn.Module):
    """df [B, n_slices, ny, nx] -> raw outputs [B, n_species, 4, n_z, ny/v, nx/v] (v =
    ``voxel_xy_px``): channel 0 a confidence logit, channels 1-3 offset logits (sigmoid ->
    fractional x, y, z in the voxel, labels convention). Any ny, nx: the normalised input is
    padded (edge values) to a multiple of ``config.stride`` and the output cropped to
    ceil(ny / v) x ceil(nx / v) voxels."""

    def __init__(self, config: NetConfig):
        super().__init__()
        if config.voxel_xy_px & (config.voxel_xy_px - 1) or config.voxel_xy_px > config.stride:
            raise ValueError(
                f"voxel_xy_px {config.voxel_xy_px}: expected a power of two <= 2**depth "
                f"({config.stride})"
            )
        self.config = config
        widths = [config.width * 2**level for level in range(config.depth + 1)]
        self.stem = nn.Conv3d(1, widths[0], 3, padding=1)
        self.encoder = nn.ModuleList(
            [_Block(widths[0], widths[0], 3)]
            + [_Block(widths[i - 1], widths[i], 3) for i in range(1, config.depth + 1)]
        )
        # level 0 -> 1 also halves the slice axis (10 slices -> 5): most compute sits there
        self.pools = nn.ModuleList(
            [nn.MaxPool3d((2 if i == 0 else 1, 2, 2), ceil_mode=True) for i in range(config.depth)]
        )
        self.out_level = config.voxel_xy_px.bit_length() - 1
        self.bottleneck = nn.Conv2d(2 * widths[-1], widths[-1], 1)
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in range(config.depth - 1, self.out_level - 1, -1):
            self.up.append(nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2))
            self.decoder.append(_Block(widths[level] + 2 * widths[level], widths[level], 2))
        self.head = nn.Conv2d(widths[self.out_level], config.n_species * 4 * config.n_z, 1)

    def forward(self, df: torch.Tensor) -> torch.Tensor:
        ny, nx = df.shape[-2:]
        x = normalise_slices(df)
        pad_y, pad_x = -ny % self.config.stride, -nx % self.config.stride
        if pad_y or pad_x:
            x = F.pad(x, (0, pad_x, 0, pad_y), mode="replicate")
        x = x.unsqueeze(1)
        x = self.stem(x)
        skips = []
        for level, block in enumerate(self.encoder):
            if level:
                x = self.pools[level - 1](x)
            x = block(x)
            skips.append(x)
        y = self.bottleneck(_collapse(skips[-1]))
        for i, (up, block) in enumerate(zip(self.up, self.decoder, strict=True)):
            level = self.config.depth - 1 - i
            y = block(torch.cat([up(y), _collapse(skips[level])], dim=1))
        out = self.head(y)
        b, _, h, w = out.shape
        c = self.config
        out = out.view(b, c.n_species, 4, c.n_z, h, w)
        return out[..., : -(-ny // c.voxel_xy_px), : -(-nx // c.voxel_xy_px)]
