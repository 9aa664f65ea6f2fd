"""Checks of a campaign config that the JSON schema cannot express, run before any job.

The schema (``workflow/schemas/config.schema.yaml``) checks each key on its own. This module
checks what only shows when keys are read together, and what Snakemake's config loading lets
through, so that an impossible campaign stops before the first job instead of failing hours
later in the job that first reads the key:

- the config files themselves: YAML syntax (file and line), a key written twice (Snakemake
  keeps the last one silently), a file that does not exist;
- cross-field constraints of the data-front sections (structures, dft, afm, labels, dataset);
- a memory estimate of the largest AFM job and of the dataset;
- the user's import files (every atom of every file, :func:`check_import_files`).

Each failure is a :class:`ConfigCheckError` whose message is one line naming the file (and
line, where the key is written in it), the key or atom, the value and what was expected.
Sections added by later stages (e.g. ``train``) are left to their own checks.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

#: Folders of a run directory that hold the run's own files: an import glob must not match them.
RUN_FOLDERS = ("results", "logs", "scratch", ".snakemake")
#: A job asking for more memory than this (GiB) fits no ordinary compute node.
MAX_JOB_MEMORY_GIB = 64.0
#: A dataset larger than this (TiB) is almost certainly a unit mistake in the scan window.
MAX_DATASET_TIB = 10.0
#: Sample ids are ``{family}-{index:05d}``.
MAX_SAMPLES_PER_FAMILY = 100_000
#: Vertical margin (A) that the force field adds below and above the scanned heights (the AFM
#: stage's SLAB_MARGIN_BELOW_A + SLAB_MARGIN_ABOVE_A, rounded up).
FF_Z_MARGIN_A = 8.0


class ConfigCheckError(ValueError):
    """A config (or a file it names) that the campaign cannot run; the message is one line."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and records the line of every key path."""

    def __init__(self, stream: Any, source: str):
        super().__init__(stream)
        self.source = source
        self.key_lines: dict[str, int] = {}
        self._paths: dict[int, str] = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        prefix = self._paths.get(id(node), "")
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if key in seen:
                raise ConfigCheckError(
                    f"{self.source}:{line}: key '{dotted}' is written twice (first at line "
                    f"{seen[key]}); YAML would silently keep the last one: remove one"
                )
            seen[key] = line
            self.key_lines[dotted] = line
            if isinstance(value_node, yaml.MappingNode):
                self._paths[id(value_node)] = dotted
        return super().construct_mapping(node, deep=deep)


def load_config_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, int]]:
    """Read a YAML/JSON config file strictly: ``(config, line of each dotted key)``.

    Raises:
        ConfigCheckError: missing or unreadable file, YAML syntax error (file:line:column),
            duplicate key (file:line), or a top level that is not a mapping.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigCheckError(f"{source}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigCheckError(f"{source}: config file not readable ({err})") from None
    loader = _StrictLoader(text, source)
    try:
        config = loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = " ".join(str(err.problem or err.context or "invalid YAML").split())
        if err.problem and err.context and err.context_mark:
            problem += f" ({err.context} started at line {err.context_mark.line + 1})"
        raise ConfigCheckError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as err:
        raise ConfigCheckError(f"{source}: YAML error: {' '.join(str(err).split())}") from None
    finally:
        loader.dispose()
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigCheckError(
            f"{source}: top level is a {type(config).__name__}, expected a mapping of sections"
        )
    return config, loader.key_lines


class _Where:
    """Names a key as ``file:line`` when a config file writes it, else as the default's."""

    def __init__(self, files: Iterable[str | os.PathLike]):
        self.files = [str(f) for f in files]
        self.lines: dict[str, tuple[str, int]] = {}
        for path in self.files:
            try:
                _, lines = load_config_file(path)
            except ConfigCheckError:
                continue
            for key, line in lines.items():
                self.lines[key] = (path, line)  # later files override earlier ones

    def __call__(self, key: str) -> str:
        probe = key
        while probe:
            if probe in self.lines:
                path, line = self.lines[probe]
                return f"{path}:{line}: key '{key}'"
            probe = probe.rpartition(".")[0]
        source = self.files[-1] if self.files else "config"
        return f"{source}: key '{key}' (not in the file: schema default or --config)"


def check_config_files(files: Iterable[str | os.PathLike]) -> None:
    """Strictly re-read every config file (duplicates, syntax): :func:`load_config_file`."""
    for path in files:
        load_config_file(path)


def _families(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get("structures", {}).get("families", {})


def _check_premelt_frames(premelt: Mapping[str, Any], where: _Where) -> None:
    """premelt's count fits its trajectories' frames (iceafm.structures.premelt)."""
    from iceafm.structures.premelt import capacity, trajectory_temperatures

    frames = capacity(premelt) // len(trajectory_temperatures(premelt))
    if frames == 0:
        raise ConfigCheckError(
            f"{where('structures.families.premelt.production_ps')} = {premelt['production_ps']}: "
            f"no frame at frame_spacing_ps = {premelt['frame_spacing_ps']}; expected "
            "production_ps >= frame_spacing_ps"
        )
    if premelt["count"] > capacity(premelt):
        raise ConfigCheckError(
            f"{where('structures.families.premelt.count')} = {premelt['count']}: expected at "
            f"most {capacity(premelt)} = {len(trajectory_temperatures(premelt))} trajectories "
            f"(temperatures_below_tm_k x trajectories_per_temperature) x {frames} frames "
            f"(production_ps / frame_spacing_ps)"
        )


def _check_structures(config: Mapping[str, Any], where: _Where) -> None:
    from iceafm.structures.bilayer_metal import REGISTRIES

    for family, section in _families(config).items():
        count = section.get("count", 0)
        if isinstance(count, int) and count > MAX_SAMPLES_PER_FAMILY:
            raise ConfigCheckError(
                f"{where(f'structures.families.{family}.count')} = {count}: sample ids have 5 "
                f"digits, expected at most {MAX_SAMPLES_PER_FAMILY}"
            )
    premelt = _families(config).get("premelt", {})
    # premelt MD runs for its samples, and for the held-out reference of rule adapt
    reference = config.get("adapt", {}).get("evaluation", {}).get("reference")
    if premelt.get("count", 0) > 0 or (premelt and reference == "premelt_md"):
        bilayers, melt = premelt["bilayers"], premelt["melt_bilayers"]
        if not 1 <= melt < bilayers:
            raise ConfigCheckError(
                f"{where('structures.families.premelt.melt_bilayers')} = {melt}: expected 1 .. "
                f"bilayers - 1 = {bilayers - 1} (structures.families.premelt.bilayers = "
                f"{bilayers}; the bottom bilayer stays crystalline)"
            )
        _check_premelt_frames(premelt, where)
    for family in ("bilayer_metal", "cluster_metal"):  # clusters are cut from the bilayer
        metal = _families(config).get(family, {})
        if metal.get("count", 0) == 0:
            continue
        nx, ny, _layers = metal["surface_size"]
        for name in REGISTRIES if metal["metal"] == "random" else (metal["metal"],):
            mx, my = REGISTRIES[name].metal_repeat
            if nx % mx or ny % my:
                raise ConfigCheckError(
                    f"{where(f'structures.families.{family}.surface_size')} = "
                    f"{list(metal['surface_size'])}: for {name} expected nx a multiple "
                    f"of {mx} and ny a multiple of {my} (the ice bilayer must be commensurate)"
                )
    clusters = _families(config).get("cluster_metal", {})
    if clusters.get("count", 0) > 0 and clusters["molecules"][0] > clusters["molecules"][1]:
        raise ConfigCheckError(
            f"{where('structures.families.cluster_metal.molecules')} = "
            f"{list(clusters['molecules'])}: expected [min, max] with min <= max"
        )


def _check_dft(config: Mapping[str, Any], where: _Where) -> None:
    dft = config.get("dft", {})
    if config.get("afm", {}).get("electrostatics") != "hartree" or not dft:
        return
    retries, robust = dft["retries"], dft["robust"]
    last_smearing = dft["smearing_ev"] * robust["smearing_factor"] ** retries
    if last_smearing > 1.0:
        raise ConfigCheckError(
            f"{where('dft.robust.smearing_factor')} = {robust['smearing_factor']}: the last "
            f"retry would smear by {last_smearing:.3g} eV (smearing_ev {dft['smearing_ev']} x "
            f"factor^{retries} retries), expected at most 1 eV"
        )
    every = dft["resources"]["checkpoint_every"]
    if every > dft["maxiter"]:
        raise ConfigCheckError(
            f"{where('dft.resources.checkpoint_every')} = {every}: larger than dft.maxiter = "
            f"{dft['maxiter']}, so a killed job never has a checkpoint to resume from; expected "
            "0 (no checkpoints) or at most maxiter"
        )


def scan_pixels(scan: Mapping[str, Any]) -> tuple[int, int]:
    """Image size (ny, nx) of the AFM scan window, as the AFM stage computes it."""
    size_x, size_y = scan["size_a"]
    pixel = scan["pixel_size_a"]
    return int(round(size_y / pixel)), int(round(size_x / pixel))


def afm_memory_bytes(afm: Mapping[str, Any]) -> tuple[float, float]:
    """Estimated peak memory (bytes) of one AFM job and the df bytes per sample.

    The job holds the force field (LJ, electrostatic and their sum: 3 x 3 float64 per grid
    point) over the scan window and the scanned heights plus margins, and per view the tip
    positions, relaxed positions and forces of every pixel and relaxation step (about
    7 float64 each); the stack itself is float32 [n_views, n_heights, ny, nx].
    """
    scan, views = afm["scan"], afm["views"]
    ny, nx = scan_pixels(scan)
    n_amp = int(math.ceil(afm["cantilever"]["amplitude_a"] / scan["height_step_a"])) + 1
    n_z = scan["n_heights"] + n_amp
    step = afm["ff_step_a"]
    z_span = (scan["n_heights"] + n_amp) * scan["height_step_a"] + FF_Z_MARGIN_A
    ff_points = (
        math.ceil(scan["size_a"][0] / step) * math.ceil(scan["size_a"][1] / step) * (z_span / step)
    )
    df_bytes = 4.0 * views["count"] * scan["n_heights"] * ny * nx
    job_bytes = 9 * 8.0 * ff_points + 7 * 8.0 * views["count"] * ny * nx * n_z + df_bytes
    return job_bytes, df_bytes


def _check_afm(config: Mapping[str, Any], where: _Where, n_samples: int) -> None:
    afm = config.get("afm", {})
    if not afm:
        return
    scan = afm["scan"]
    if min(scan["size_a"]) < scan["pixel_size_a"]:
        raise ConfigCheckError(
            f"{where('afm.scan.size_a')} = {list(scan['size_a'])}: smaller than one pixel "
            f"(afm.scan.pixel_size_a = {scan['pixel_size_a']} A)"
        )
    job_bytes, df_bytes = afm_memory_bytes(afm)
    if job_bytes > MAX_JOB_MEMORY_GIB * 2**30:
        ny, nx = scan_pixels(scan)
        raise ConfigCheckError(
            f"{where('afm.scan.pixel_size_a')} = {scan['pixel_size_a']}: the scan window "
            f"{list(scan['size_a'])} A at this pixel size is {nx} x {ny} px, an AFM job would "
            f"need about {job_bytes / 2**30:.3g} GiB; expected at most {MAX_JOB_MEMORY_GIB:g} "
            "GiB (larger pixels, a smaller window, fewer views or heights)"
        )
    dataset_bytes = df_bytes * n_samples
    if dataset_bytes > MAX_DATASET_TIB * 2**40:
        raise ConfigCheckError(
            f"{where('afm.scan.size_a')} = {list(scan['size_a'])}: {n_samples} samples of "
            f"{df_bytes / 2**30:.3g} GiB of df each make a {dataset_bytes / 2**40:.3g} TiB "
            f"dataset; expected at most {MAX_DATASET_TIB:g} TiB"
        )
    for name, bounds in afm.get("tip_ranges", {}).items():
        if bounds is not None and bounds[0] > bounds[1]:
            raise ConfigCheckError(
                f"{where(f'afm.tip_ranges.{name}')} = {list(bounds)}: expected [low, high] with "
                "low <= high"
            )
    voxel = config.get("labels", {}).get("voxel_xy_px")
    ny, nx = scan_pixels(scan)
    if voxel is not None and voxel > min(ny, nx):
        raise ConfigCheckError(
            f"{where('labels.voxel_xy_px')} = {voxel}: larger than the scan image "
            f"({nx} x {ny} px from afm.scan), expected at most {min(ny, nx)}"
        )


def _check_dataset(config: Mapping[str, Any], where: _Where) -> None:
    fractions = config.get("dataset", {}).get("fractions")
    if not fractions:
        return
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigCheckError(
            f"{where('dataset.fractions')} = {dict(fractions)}: the fractions sum to "
            f"{total:.6g}, expected 1"
        )


def check_config(
    config: Mapping[str, Any], files: Iterable[str | os.PathLike] = (), n_samples: int = 1
) -> None:
    """Check the cross-field constraints of a schema-validated (defaults filled) config.

    ``files`` are the config files it came from (for file:line in messages); ``n_samples``
    the campaign's number of samples (for the dataset size).

    Raises:
        ConfigCheckError: one line naming file, line, key, value and what was expected.
    """
    where = _Where(files)
    _check_structures(config, where)
    _check_dft(config, where)
    _check_afm(config, where, n_samples)
    _check_dataset(config, where)


def import_files(pattern: str, source: str = "config") -> list[str]:
    """The files matched by ``structures.families.import.glob`` (sorted), checked for names a
    job cannot handle and for the run's own folders (a glob matching ``results/`` would add a
    sample on every rerun).

    Raises:
        ConfigCheckError: one line naming the glob and the offending file.
    """
    files = sorted(glob.glob(pattern))
    key = f"{source}: key 'structures.families.import.glob' = {pattern!r}"
    own = [Path(folder).resolve() for folder in RUN_FOLDERS]
    for name in files:
        if not name.isprintable():
            raise ConfigCheckError(
                f"{key}: file name {name!r} holds a control character (newline, tab...), "
                "expected a printable name: rename the file"
            )
        resolved = Path(name).resolve()
        if any(resolved.is_relative_to(folder) for folder in own):
            raise ConfigCheckError(
                f"{key}: matches {name}, a file of this run's own {RUN_FOLDERS} folders; "
                "expected your input files only (each rerun would add a sample)"
            )
        if Path(name).is_dir():
            raise ConfigCheckError(f"{key}: matches the folder {name}, expected files only")
    return files


def check_import_files(files: Iterable[str]) -> None:
    """Read and validate every atom of every import file before any job runs
    (:func:`iceafm.structures.importer.read_user_structure`).

    Raises:
        ConfigCheckError: the importer's one-line message, naming file and atom.
    """
    from iceafm.structures.errors import StructureError
    from iceafm.structures.importer import read_user_structure

    for name in files:
        try:
            read_user_structure(name)
        except StructureError as err:
            raise ConfigCheckError(str(err)) from None
