"""The detector users call: df stack -> O and H atoms (the contract of ``iceafm predict``).

``Detector.detect(df)`` takes one stack [n_slices, ny, nx] in any units (raw Hz or 8-bit grey:
the network normalises each slice), any ny, nx (padded to the network's stride), already at
``pixel_size_a``, slice 0 the closest, and returns a :class:`Detection`: symbols, positions (A;
x, y in the image's scan frame, pixel (iy, ix) centred at (ix p, iy p); z relative to the
topmost predicted O) and per-atom confidence in [0, 1].
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from iceafm.models.assemble import WaterSettings, assemble_waters
from iceafm.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from iceafm.models.decode import GridGeometry, away_from_edges, decode_grid, per_species
from iceafm.models.unet3d import DetectorNet, NetConfig

#: The shipped model (package data), used when no path is given.
PRETRAINED = Path(__file__).with_name("pretrained") / "detector.pt"


@dataclass
class Detection:
    """Atoms found in one stack: ``symbols`` [n] ('O'/'H'), ``positions_a`` [n, 3] (A; x, y in
    the scan frame, z relative to the topmost predicted O), ``confidence`` [n] in [0, 1],
    ``molecule`` [n] (index of each atom's water, its O's rank; -1 for an H of the raw decode)
    and ``decode`` (the settings used: :meth:`WaterSettings.to_dict`)."""

    symbols: list[str]
    positions_a: np.ndarray
    confidence: np.ndarray
    molecule: np.ndarray | None = None
    decode: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectorMeta:
    """What a detector was trained on and how it decodes: ``pixel_size_a`` (A), ``heights_a``
    [n_slices] (A, ascending), label ``geometry`` and ``depth_a`` (A), decode ``threshold`` (one
    value or one per species) and ``nms_radius_a`` (A; one value or one per species), the
    ``water`` assembly (:mod:`iceafm.models.assemble`; files without it get the defaults, on),
    and ``info`` (name, config hash, dataset, metrics)."""

    pixel_size_a: float
    heights_a: list[float]
    geometry: GridGeometry
    depth_a: float = 3.0
    threshold: float | dict[str, float] = 0.5
    nms_radius_a: float | dict[str, float] = 1.0
    water: WaterSettings = field(default_factory=WaterSettings)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (checkpoint ``meta``)."""
        return {
            "pixel_size_a": self.pixel_size_a,
            "heights_a": list(self.heights_a),
            "geometry": vars(self.geometry).copy(),
            "depth_a": self.depth_a,
            "threshold": self.threshold,
            "nms_radius_a": self.nms_radius_a,
            **self.water.to_dict(),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorMeta:
        """Inverse of :meth:`to_dict`."""
        return cls(
            pixel_size_a=float(data["pixel_size_a"]),
            heights_a=[float(h) for h in data["heights_a"]],
            geometry=GridGeometry(**data["geometry"]),
            depth_a=float(data["depth_a"]),
            threshold=per_species(data["threshold"], "meta threshold"),
            nms_radius_a=per_species(data["nms_radius_a"], "meta nms_radius_a"),
            water=water_settings(data, "meta "),
            info=dict(data.get("info", {})),
        )


def water_settings(values: dict[str, Any], where: str = "") -> WaterSettings:
    """The water assembly of a config section or checkpoint meta (keys ``assemble_waters``,
    ``water_oh_window_a``, ``water_hoh_angle_deg``, ``water_rigid``; missing ones: the
    defaults); a one-line :class:`ValueError` prefixed by ``where`` for a malformed value."""
    default = WaterSettings()
    try:
        return WaterSettings.from_values(
            values.get("assemble_waters", default.enabled),
            values.get("water_oh_window_a", default.oh_window_a),
            values.get("water_hoh_angle_deg", default.hoh_angle_deg),
            values.get("water_rigid", default.rigid),
        )
    except ValueError as err:
        raise ValueError(f"{where}{err}") from None


class Detector:
    """A :class:`DetectorNet` with what it was trained on; see the module docstring."""

    def __init__(self, net: DetectorNet, meta: DetectorMeta, device: str | torch.device = "cpu"):
        self.net = net.to(device).eval()
        self.meta = meta
        self.device = torch.device(device)

    @property
    def pixel_size_a(self) -> float:
        """A per pixel of the training images."""
        return self.meta.pixel_size_a

    @property
    def heights_a(self) -> np.ndarray:
        """[n_slices] training slice heights (A, ascending: slice 0 closest)."""
        return np.asarray(self.meta.heights_a, dtype=np.float64)

    @property
    def n_slices(self) -> int:
        """How many slices the network was trained on (it also takes fewer)."""
        return len(self.meta.heights_a)

    @property
    def info(self) -> dict[str, Any]:
        """Name, training config hash, dataset and metrics (for extxyz info)."""
        return self.meta.info

    @torch.no_grad()
    def predict_grid(self, df: np.ndarray | torch.Tensor) -> np.ndarray:
        """Probabilities [B, n_species, 4, n_z, ceil(ny/v), ceil(nx/v)] of a batch of stacks
        [B, n, ny, nx] (v = voxel_xy_px; confidence and offsets through a sigmoid)."""
        x = torch.as_tensor(np.asarray(df, dtype=np.float32)).to(self.device)
        return torch.sigmoid(self.net(x).float()).cpu().numpy()

    def decode(
        self,
        grid: np.ndarray,
        threshold: float | dict[str, float] | None = None,
        edges: tuple[tuple[float, float], float] | None = None,
    ) -> Detection:
        """Atoms of one probability grid: peaks (:func:`decode_grid`), with ``edges`` = (scan
        extent (x, y) A, margin A) those within the margin of the scan's edge dropped
        (:func:`away_from_edges`), then water assembly (:func:`assemble_waters`, unless
        ``meta.water.enabled`` is False), z re-referenced to the topmost predicted O
        (``threshold`` None: the detector's own). Every caller (predict, evaluate, adapt,
        figures) decodes through here."""
        symbols, xyz, conf = decode_grid(
            grid,
            self.meta.geometry,
            self.meta.threshold if threshold is None else threshold,
            self.meta.nms_radius_a,
        )
        if edges is not None:
            keep = away_from_edges(xyz, *edges)
            symbols = [s for s, k in zip(symbols, keep, strict=True) if k]
            xyz, conf = xyz[keep], conf[keep]
        symbols, xyz, conf, molecule = assemble_waters(symbols, xyz, conf, self.meta.water)
        is_o = np.array(symbols) == "O"
        if is_o.any():
            xyz[:, 2] -= xyz[is_o, 2].max()
        return Detection(symbols, xyz, conf, molecule, self.meta.water.to_dict())

    def detect(self, df: np.ndarray, edge_margin_a: float = 0.0) -> Detection:
        """Atoms of one stack df [n_slices, ny, nx] (see the module docstring); with
        ``edge_margin_a`` > 0 (A; real, non-periodic scans) none within that of the scan's edge."""
        df = np.asarray(df)
        if df.ndim != 3 or min(df.shape) < 1:
            raise ValueError(f"detect: expected df of shape [n_slices, ny, nx], got {df.shape}")
        ny, nx = df.shape[1:]
        extent = ((nx - 1) * self.pixel_size_a, (ny - 1) * self.pixel_size_a)
        edges = (extent, edge_margin_a) if edge_margin_a > 0 else None
        return self.decode(self.predict_grid(df[None])[0], edges=edges)


def build_detector(meta: DetectorMeta, width: int = 16, depth: int = 3, seed: int = 0) -> Detector:
    """An untrained detector of the given width/depth for the label geometry in ``meta``
    (weights drawn from ``seed``)."""
    n_z = int(
        np.ceil((meta.depth_a + meta.geometry.above_top_o_a) / meta.geometry.voxel_z_a - 1e-9)
    )
    config = NetConfig(width=width, depth=depth, voxel_xy_px=meta.geometry.voxel_xy_px, n_z=n_z)
    torch.manual_seed(seed)
    return Detector(DetectorNet(config), meta)


def save_detector(path: str | os.PathLike, detector: Detector) -> None:
    """Write the detector's weights and metadata (no optimiser state) atomically."""
    state = {k: v.detach().cpu() for k, v in detector.net.state_dict().items()}
    save_checkpoint(
        path,
        {
            "net": detector.net.config.to_dict(),
            "model_state": state,
            "meta": detector.meta.to_dict(),
        },
    )


def load_detector(path: str | os.PathLike | None = None, device: str = "cpu") -> Detector:
    """Load a detector (``path`` None: the shipped model). A training checkpoint works too.
    Raises :class:`CheckpointError` (one line) for a missing, truncated or foreign file."""
    path = PRETRAINED if path is None else Path(path)
    data = load_checkpoint(path, map_location="cpu")
    try:
        net = DetectorNet(NetConfig(**data["net"]))
        net.load_state_dict(data["model_state"])
        meta = DetectorMeta.from_dict(data["meta"])
    except (TypeError, KeyError, RuntimeError, ValueError) as err:
        reason = str(err).splitlines()[0]
        raise CheckpointError(
            f"{path}: detector checkpoint does not fit the network ({reason})"
        ) from None
    return Detector(net, meta, device=device)
