"""CycleGAN translator between simulated and experimental AFM stacks (``adapt`` method
``cyclegan``, Zhu et al. 2017 as used by AmorAFM and Huang et al.'s StyleTransAugment).

Stacks are df [n_slices, ny, nx], each slice normalised to zero mean and unit std, at the
detector's pixel size, slice 0 the closest. Both generators are small 3D conv nets (kernel 3 in
height and in x, y; one stride-2 lateral down/up sampling, residual blocks between) that add a
correction to their input, so any slice count and any even-padded lateral size pass; the
discriminators are 3D PatchGANs (each output voxel judges a ~22 x 22 px x 7-slice patch).
Losses: least-squares GAN (LSGAN), cycle consistency (L1, weight ``lambda_cycle``) and identity
(L1, weight ``lambda_identity``; off by default: the small style gap between simulated and real
stacks let it hold the translator at the identity). Training (:func:`train_translator`) draws
random crops of ``crop_slices`` consecutive slices and ``crop_px`` x ``crop_px`` pixels from each
domain, saves a resumable state after every epoch (networks, optimisers, AMP scaler, RNG,
history), shows tqdm progress and uses AMP (float16 autocast) on CUDA.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from iceafm.io.atomic import atomic_path
from iceafm.models.checkpoint import config_hash
from iceafm.models.train import resolve_device


class TranslatorError(ValueError):
    """A translator config value or saved state is invalid (one-line message)."""


@dataclass(frozen=True)
class TranslatorConfig:
    """The ``adapt.translator`` config section (every key: config/README.md).

    width: channels of the first generator/discriminator layer; n_res: residual blocks per
    generator; crop_px, crop_slices: training crop (pixels, consecutive slices); epochs,
    steps_per_epoch, batch_size, lr (Adam, betas 0.5/0.999); lambda_cycle, lambda_identity: loss
    weights; seed; device (auto, cpu, cuda, cuda:N); amp (float16 autocast on CUDA only).
    """

    width: int = 16
    n_res: int = 3
    crop_px: int = 64
    crop_slices: int = 6
    epochs: int = 20
    steps_per_epoch: int = 200
    batch_size: int = 4
    lr: float = 2e-4
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return asdict(self)

    def hash(self) -> str:
        """Hash of what shapes the result (not device, amp)."""
        return config_hash({k: v for k, v in self.to_dict().items() if k not in ("device", "amp")})


def save_state(path: str | Path, payload: dict[str, Any]) -> None:
    """Write a translator state (torch file, tensors and plain types only) atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": "iceafm-translator", **payload}, tmp)


def load_state(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a translator state; :class:`TranslatorError` (one line) for a bad file."""
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many kinds for a truncated or foreign file
        reason = (str(err).splitlines() or [""])[0][:120]
        raise TranslatorError(f"{path}: not a readable translator state ({reason})") from None
    if not isinstance(data, dict) or data.get("format") != "iceafm-translator":
        raise TranslatorError(f"{path}: not an iceafm translator state (foreign file)")
    return data


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(4, channels), channels)


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(channels, channels, 3, padding=1),
            _norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(channels, channels, 3, padding=1),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """[B, n, ny, nx] -> [B, n, ny, nx] (ny, nx even): input plus a learnt 3D-conv correction."""

    def __init__(self, width: int = 16, n_res: int = 3):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv3d(1, w, 3, padding=1),
            _norm(w),
            nn.ReLU(inplace=True),
            nn.Conv3d(w, 2 * w, 3, stride=(1, 2, 2), padding=1),
            _norm(2 * w),
            nn.ReLU(inplace=True),
            *[_Residual(2 * w) for _ in range(n_res)],
            nn.Upsample(scale_factor=(1, 2, 2), mode="trilinear", align_corners=False),
            nn.Conv3d(2 * w, w, 3, padding=1),
            _norm(w),
            nn.ReLU(inplace=True),
            nn.Conv3d(w, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x[:, None])[:, 0]


class PatchDiscriminator(nn.Module):
    """3D PatchGAN: [B, n, ny, nx] -> realness map [B, 1, n, ny/4, nx/4] (LSGAN targets 1/0)."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv3d(1, w, (3, 4, 4), stride=(1, 2, 2), padding=(1, 1, 1)),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv3d(w, 2 * w, (3, 4, 4), stride=(1, 2, 2), padding=(1, 1, 1)),
            _norm(2 * w),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv3d(2 * w, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, None])


class CycleGan(nn.Module):
    """The four networks: ``g_sr`` simulated -> real, ``g_rs`` real -> simulated, ``d_r``,
    ``d_s`` the discriminators of each domain."""

    def __init__(self, width: int = 16, n_res: int = 3):
        super().__init__()
        self.g_sr, self.g_rs = Generator(width, n_res), Generator(width, n_res)
        self.d_r, self.d_s = PatchDiscriminator(width), PatchDiscriminator(width)


def lsgan_loss(prediction: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean (D(x) - 1)^2 for ``real``, mean D(x)^2 otherwise."""
    target = torch.ones_like(prediction) if real else torch.zeros_like(prediction)
    return torch.mean((prediction.float() - target) ** 2)


def cycle_loss(
    g_ab: nn.Module, g_ba: nn.Module, a: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L1 cycle loss |g_ba(g_ab(a)) - a| + |g_ab(g_ba(b)) - b|, fake b, fake a)."""
    fake_b, fake_a = g_ab(a), g_ba(b)
    loss = torch.mean(torch.abs(g_ba(fake_b).float() - a)) + torch.mean(
        torch.abs(g_ab(fake_a).float() - b)
    )
    return loss, fake_b, fake_a


def generator_losses(
    model: CycleGan, sim: torch.Tensor, real: torch.Tensor, config: TranslatorConfig
) -> tuple[torch.Tensor, dict[str, float], torch.Tensor, torch.Tensor]:
    """Total generator loss (LSGAN + cycle + identity), its parts, fake real, fake sim."""
    cyc, fake_real, fake_sim = cycle_loss(model.g_sr, model.g_rs, sim, real)
    adv = lsgan_loss(model.d_r(fake_real), True) + lsgan_loss(model.d_s(fake_sim), True)
    ident = torch.mean(torch.abs(model.g_sr(real).float() - real)) + torch.mean(
        torch.abs(model.g_rs(sim).float() - sim)
    )
    total = adv + config.lambda_cycle * cyc + config.lambda_identity * ident
    parts = {k: float(v.detach()) for k, v in (("adv", adv), ("cycle", cyc), ("identity", ident))}
    return total, parts, fake_real, fake_sim


def discriminator_loss(
    disc: nn.Module, real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """LSGAN discriminator loss, 0.5 (real term + fake term); ``fake`` is detached."""
    return 0.5 * (lsgan_loss(disc(real), True) + lsgan_loss(disc(fake.detach()), False))


def random_crops(
    pool: list[np.ndarray], n: int, crop_slices: int, crop_px: int, rng: np.random.Generator
) -> np.ndarray:
    """[n, crop_slices, crop_px, crop_px] crops of stacks drawn at random from ``pool`` (each
    [n_h, ny, nx], n_h >= crop_slices, ny, nx >= crop_px), random consecutive slices."""
    out = np.empty((n, crop_slices, crop_px, crop_px), np.float32)
    for i in range(n):
        df = pool[int(rng.integers(len(pool)))]
        k = int(rng.integers(df.shape[0] - crop_slices + 1))
        y = int(rng.integers(df.shape[1] - crop_px + 1))
        x = int(rng.integers(df.shape[2] - crop_px + 1))
        out[i] = df[k : k + crop_slices, y : y + crop_px, x : x + crop_px]
    return out


def crop_geometry(
    config: TranslatorConfig, sim: list[np.ndarray], real: list[np.ndarray]
) -> tuple[int, int]:
    """(crop_slices, crop_px) that every stack of both pools holds (crop_px even, >= 8)."""
    stacks = [*sim, *real]
    n = min(config.crop_slices, *(s.shape[0] for s in stacks))
    px = min(config.crop_px, *(min(s.shape[1:]) for s in stacks))
    px -= px % 4
    if px < 8:
        raise TranslatorError(f"adapt.translator: stacks too small for a crop ({px} px < 8)")
    return n, px


def train_translator(
    config: TranslatorConfig,
    sim: list[np.ndarray],
    real: list[np.ndarray],
    state_path: str | Path,
    progress: bool = True,
) -> tuple[CycleGan, list[dict[str, float]]]:
    """Train (or resume from ``state_path``) the CycleGAN on the two pools of normalised stacks;
    return the model (eval mode, on its device) and the per-epoch history of mean losses."""
    if not sim or not real:
        raise TranslatorError("adapt: the translator needs simulated and real stacks")
    device = resolve_device(config.device)
    n_slices, crop_px = crop_geometry(config, sim, real)
    torch.manual_seed(config.seed)
    model = CycleGan(config.width, config.n_res).to(device)
    gens = [*model.g_sr.parameters(), *model.g_rs.parameters()]
    discs = [*model.d_r.parameters(), *model.d_s.parameters()]
    opt_g = torch.optim.Adam(gens, lr=config.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discs, lr=config.lr, betas=(0.5, 0.999))
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history: list[dict[str, float]] = []
    start = 0
    state_path = Path(state_path)
    if state_path.exists():
        state = load_state(state_path, map_location=device)
        if state.get("config_hash") != config.hash():
            raise TranslatorError(
                f"{state_path}: saved translator has config hash {state.get('config_hash')}, "
                f"this run {config.hash()}; delete the file to start over"
            )
        model.load_state_dict(state["model_state"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        scaler.load_state_dict(state["scaler"])
        history, start = state["history"], state["epoch"] + 1
    for epoch in range(start, config.epochs):
        rng = np.random.default_rng([config.seed, epoch])
        model.train()
        sums: dict[str, float] = {}
        bar = tqdm(
            range(config.steps_per_epoch),
            desc=f"translator epoch {epoch + 1}/{config.epochs}",
            disable=not progress,
            mininterval=5.0,
            file=sys.stderr,
        )
        for _ in bar:
            a = torch.from_numpy(random_crops(sim, config.batch_size, n_slices, crop_px, rng))
            b = torch.from_numpy(random_crops(real, config.batch_size, n_slices, crop_px, rng))
            a, b = a.to(device), b.to(device)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                loss_g, parts, fake_real, fake_sim = generator_losses(model, a, b, config)
            opt_g.zero_grad(set_to_none=True)
            scaler.scale(loss_g).backward()
            scaler.step(opt_g)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                loss_d = discriminator_loss(model.d_r, b, fake_real) + discriminator_loss(
                    model.d_s, a, fake_sim
                )
            opt_d.zero_grad(set_to_none=True)
            scaler.scale(loss_d).backward()
            scaler.step(opt_d)
            scaler.update()
            parts.update(gen=float(loss_g.detach()), disc=float(loss_d.detach()))
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.set_postfix(gen=f"{sums['gen'] / (bar.n + 1):.3f}")
        row = {"epoch": epoch + 1, **{k: v / config.steps_per_epoch for k, v in sums.items()}}
        history.append(row)
        save_state(
            state_path,
            {
                "config_hash": config.hash(),
                "config": config.to_dict(),
                "crop": [n_slices, crop_px],
                "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "history": history,
            },
        )
    return model.eval(), history


@torch.no_grad()
def translate(generator: nn.Module, df: np.ndarray) -> np.ndarray:
    """One normalised stack df [n, ny, nx] through ``generator`` (reflect-padded to a multiple
    of 2 laterally, cropped back), float32, each slice re-normalised to zero mean, unit std."""
    param = next(generator.parameters())
    n, ny, nx = df.shape
    py, px = (-ny) % 2, (-nx) % 2
    x = torch.as_tensor(np.asarray(df, np.float32), device=param.device)[None]
    if py or px:
        x = torch.nn.functional.pad(x, (0, px, 0, py), mode="reflect")
    out = generator(x)[0, :, :ny, :nx].float().cpu().numpy()
    out -= out.mean(axis=(1, 2), keepdims=True)
    out /= out.std(axis=(1, 2), keepdims=True) + 1e-6
    return out


def translation_change(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """How far a translation moved one stack: (RMS of ``after - before``, Pearson r of the two)
    over all voxels of two slice-normalised stacks [n, ny, nx]. The RMS is in units of a slice's
    std: 0 for the identity, about 1.4 for an unrelated stack."""
    a = np.asarray(before, np.float64).ravel()
    b = np.asarray(after, np.float64).ravel()
    return float(np.sqrt(np.mean((b - a) ** 2))), float(np.corrcoef(a, b)[0, 1])


def load_translator(path: str | Path, device: str = "cpu") -> CycleGan:
    """The CycleGAN of a translator state file (eval mode)."""
    state = load_state(path)
    try:
        config = TranslatorConfig(**state["config"])
        model = CycleGan(config.width, config.n_res)
        model.load_state_dict(state["model_state"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise TranslatorError(f"{path}: not a translator state ({err})") from None
    return model.to(device).eval()


__all__ = [
    "CycleGan",
    "Generator",
    "PatchDiscriminator",
    "TranslatorConfig",
    "TranslatorError",
    "cycle_loss",
    "discriminator_loss",
    "generator_losses",
    "load_translator",
    "lsgan_loss",
    "train_translator",
    "translate",
    "translation_change",
]
