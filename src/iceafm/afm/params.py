"""Tip, cantilever, scan and view settings of the AFM stage, validated from the ``afm`` config."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from iceafm.afm.errors import AfmConfigError

#: Tip multipoles ppafm supports for both point-charge and Hartree electrostatics.
TIP_MULTIPOLES = ("s", "pz", "dz2")
ELECTROSTATICS_MODES = ("hartree", "point_charges", "none")
#: ``opencl`` relaxes on an OpenCL device (:mod:`iceafm.afm.opencl`); same force field and images.
ENGINES = ("cpu", "opencl")


@dataclass(frozen=True)
class TipParams:
    """CO tip as a probe particle (PP) on a spring below the metal apex.

    charge_e: PP charge (e) multiplying the electrostatic force field.
    multipole: charge distribution of the PP (``s``, ``pz``, ``dz2``).
    sigma_a: Gaussian width (A) of the PP charge cloud (Hartree mode only).
    klat_n_m, krad_n_m: lateral and radial (bond) stiffness (N/m).
    probe_length_a: equilibrium apex-PP distance (A).
    """

    charge_e: float = -0.1
    multipole: str = "dz2"
    sigma_a: float = 0.71
    klat_n_m: float = 0.25
    krad_n_m: float = 20.0
    probe_length_a: float = 4.0


@dataclass(frozen=True)
class CantileverParams:
    """qPlus cantilever: resonance f0_hz (Hz), stiffness k0_n_m (N/m), peak-to-peak
    amplitude_a (A)."""

    f0_hz: float = 30300.0
    k0_n_m: float = 1800.0
    amplitude_a: float = 1.0


@dataclass(frozen=True)
class ScanParams:
    """Scan window and heights.

    size_a: (width, height) of the window (A); pixel_size_a: pixel pitch (A), so the image has
    ``round(size / pixel_size)`` pixels along each axis. Heights are PP heights (A) above the
    topmost atom at the oscillation's lower turning point: ``min_height_a + k * height_step_a``,
    k = 0..n_heights-1; the relaxation runs on the same z step.
    """

    size_a: tuple[float, float] = (12.8, 12.8)
    pixel_size_a: float = 0.2
    min_height_a: float = 3.0
    n_heights: int = 10
    height_step_a: float = 0.1

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (ny, nx) in pixels."""
        return (
            int(round(self.size_a[1] / self.pixel_size_a)),
            int(round(self.size_a[0] / self.pixel_size_a)),
        )

    @property
    def heights_a(self) -> np.ndarray:
        """PP heights above the topmost atom (A), shape [n_heights], ascending."""
        return self.min_height_a + self.height_step_a * np.arange(self.n_heights)


@dataclass(frozen=True)
class ViewParams:
    """Views per structure: view 0 is centred on the cell; the others are shifted by a random
    fraction of the cell vectors and, if ``rotate``, rotated by a random angle about z."""

    count: int = 1
    rotate: bool = True
    seed: int = 0


@dataclass(frozen=True)
class TipRanges:
    """Per-view tip randomisation (domain randomisation of the tip, as real CO tips differ from
    one experiment to the next): each view's tip takes ``charge_e`` (e) and ``klat_n_m`` (N/m)
    drawn uniformly from these [low, high] ranges instead of the ``tip`` section's values
    (None: the ``tip`` value for every view). The multipole stays the ``tip`` section's: every
    view shares one force field."""

    charge_e: tuple[float, float] | None = None
    klat_n_m: tuple[float, float] | None = None

    @property
    def enabled(self) -> bool:
        """Whether any tip parameter varies between views."""
        return self.charge_e is not None or self.klat_n_m is not None


@dataclass(frozen=True)
class AfmSettings:
    """Everything that shapes an AFM stack (the validated ``afm`` config section)."""

    tip: TipParams
    cantilever: CantileverParams
    scan: ScanParams
    views: ViewParams
    tip_ranges: TipRanges = TipRanges()
    electrostatics: str = "point_charges"
    engine: str = "cpu"
    ff_step_a: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for npz metadata and json)."""
        return asdict(self)


def _section(config: dict[str, Any], key: str, cls: type, path: str) -> Any:
    raw = config.get(key, {})
    if not isinstance(raw, dict):
        raise AfmConfigError(f"config {path}.{key}: expected a mapping, got {raw!r}")
    known = set(cls.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise AfmConfigError(
            f"config {path}.{key}: unknown key(s) {sorted(unknown)}; expected {sorted(known)}"
        )
    values = dict(raw)
    for key in ("size_a", "charge_e", "klat_n_m"):
        if isinstance(values.get(key), list):
            values[key] = tuple(float(v) for v in values[key])
    return cls(**values)


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise AfmConfigError(f"config afm.{name}: expected a positive number, got {value!r}")


def settings_from_config(afm: dict[str, Any]) -> AfmSettings:
    """Build and validate :class:`AfmSettings` from the ``afm`` config section (a dict)."""
    allowed = {"tip", "tip_ranges", "cantilever", "scan", "views", "electrostatics", "engine",
               "ff_step_a"}  # fmt: skip
    unknown = set(afm) - allowed
    if unknown:
        raise AfmConfigError(f"config afm: unknown key(s) {sorted(unknown)}")
    settings = AfmSettings(
        tip=_section(afm, "tip", TipParams, "afm"),
        cantilever=_section(afm, "cantilever", CantileverParams, "afm"),
        scan=_section(afm, "scan", ScanParams, "afm"),
        views=_section(afm, "views", ViewParams, "afm"),
        tip_ranges=_section(afm, "tip_ranges", TipRanges, "afm"),
        electrostatics=afm.get("electrostatics", "point_charges"),
        engine=afm.get("engine", "cpu"),
        ff_step_a=float(afm.get("ff_step_a", 0.1)),
    )
    if settings.tip.multipole not in TIP_MULTIPOLES:
        raise AfmConfigError(
            f"config afm.tip.multipole: expected one of {TIP_MULTIPOLES}, "
            f"got {settings.tip.multipole!r}"
        )
    if settings.electrostatics not in ELECTROSTATICS_MODES:
        raise AfmConfigError(
            f"config afm.electrostatics: expected one of {ELECTROSTATICS_MODES}, "
            f"got {settings.electrostatics!r}"
        )
    if settings.engine not in ENGINES:
        raise AfmConfigError(
            f"config afm.engine: expected one of {ENGINES}, got {settings.engine!r}"
        )
    for name, value in [
        ("tip.sigma_a", settings.tip.sigma_a),
        ("tip.klat_n_m", settings.tip.klat_n_m),
        ("tip.krad_n_m", settings.tip.krad_n_m),
        ("tip.probe_length_a", settings.tip.probe_length_a),
        ("cantilever.f0_hz", settings.cantilever.f0_hz),
        ("cantilever.k0_n_m", settings.cantilever.k0_n_m),
        ("cantilever.amplitude_a", settings.cantilever.amplitude_a),
        ("scan.pixel_size_a", settings.scan.pixel_size_a),
        ("scan.min_height_a", settings.scan.min_height_a),
        ("scan.height_step_a", settings.scan.height_step_a),
        ("scan.n_heights", settings.scan.n_heights),
        ("views.count", settings.views.count),
        ("ff_step_a", settings.ff_step_a),
    ]:
        _positive(name, value)
    for name in ("charge_e", "klat_n_m"):
        bounds = getattr(settings.tip_ranges, name)
        if bounds is not None and (len(bounds) != 2 or not bounds[0] <= bounds[1]):
            raise AfmConfigError(
                f"config afm.tip_ranges.{name}: expected [low, high] with low <= high, "
                f"got {list(bounds)}"
            )
    if settings.tip_ranges.klat_n_m is not None:
        _positive("tip_ranges.klat_n_m", settings.tip_ranges.klat_n_m[0])
    if len(settings.scan.size_a) != 2 or min(settings.scan.size_a) < settings.scan.pixel_size_a:
        raise AfmConfigError(
            f"config afm.scan.size_a: expected [width, height] >= pixel_size_a, "
            f"got {list(settings.scan.size_a)}"
        )
    return settings
