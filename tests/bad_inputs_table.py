"""The bad-input table: inputs a new user or an operator gets wrong, and what each must cause.

Shared by ``tests/workflow/test_bad_inputs.py`` (one test per row) and
``benchmarks/bad_inputs.py`` (counts). Every row prepares a run folder and names the command
a user would type there; :func:`run_case` runs it for real (Snakemake, the package's command
line tools, the stage's real rule) and judges the outcome:

- it must fail (``silent``: accepted a bad input);
- no Python traceback may reach the terminal (``traceback``);
- the first error line must name the culprit (file, key, value or atom) (``one_line``);
- where the input is known before the run (``before_jobs``), the run must stop before any
  job: a dry run (``snakemake -n``) already fails, and no job header is printed.

Config rows run ``snakemake -n`` on the tiny CI config with one edit; rows about the config
file itself (missing file, YAML syntax) go through ``python -m iceafm.launch``, since
Snakemake reads ``--configfile`` before any workflow code runs. File rows (truncated npz and
cubes) run the stage's real rule on a prepared folder.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

# The tree under test: this repository, or another checkout (ICEAFM_REPO) for a baseline run.
REPO = Path(os.environ.get("ICEAFM_REPO") or Path(__file__).resolve().parents[1])
PYTHON = sys.executable
SNAKEMAKE = [PYTHON, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]

#: A run folder's preparation: writes files into it, returns the command (argv) to run there.
Setup = Callable[[Path], list[str]]

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \".*\", line \d+", re.M)
JOB_HEADER = re.compile(r"^\s*(local)?rule \w+:\s*$", re.M)
# The first line that reports a problem (Snakemake's start-up chatter never matches).
ERROR_WORDS = re.compile(
    r"error|expected|not found|truncated|invalid|unknown|refus|written twice|yields no|"
    r"not a |not finite|apart|outside|control character|own .* folders|must|\bno\b",
    re.I,
)


@dataclass(frozen=True)
class BadInput:
    """One row: ``name`` (unique), ``kind`` (config, duplicate, yaml, import, file, cli), the
    ``culprit`` the first error line must name, whether it is knowable ``before_jobs``, and the
    ``setup`` that prepares a run folder and returns the command."""

    name: str
    kind: str
    culprit: str
    before_jobs: bool
    setup: Setup


@dataclass
class Outcome:
    """What a row's run did: exit status, first error line and the verdicts."""

    name: str
    kind: str
    returncode: int
    first_error_line: str
    silent: bool
    traceback: bool
    one_line: bool
    before_jobs: bool
    stopped_before_jobs: bool | None


def tiny_config() -> dict:
    return yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())


def _snakemake(run: Path, *args: str) -> list[str]:
    return [*SNAKEMAKE, "--directory", str(run), "--cores", "1", *args]


def _dry_run_with(edit: Callable[[dict], None]) -> Setup:
    """``snakemake -n`` on the tiny config after ``edit``."""

    def setup(run: Path) -> list[str]:
        config = tiny_config()
        edit(config)
        (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return _snakemake(run, "-n", "--configfile", str(run / "config.yaml"))

    return setup


def _dry_run_text(text: str, launcher: bool = False) -> Setup:
    """``snakemake -n`` (or ``python -m iceafm.launch -n``) on a config written as ``text``."""

    def setup(run: Path) -> list[str]:
        (run / "config.yaml").write_text(text)
        command = _snakemake(run, "-n", "--configfile", str(run / "config.yaml"))
        if launcher:
            command[:3] = [PYTHON, "-m", "iceafm.launch"]
        return command

    return setup


def _set(path: str, value: object) -> Callable[[dict], None]:
    """An edit that sets the dotted key ``path`` to ``value``."""

    def edit(config: dict) -> None:
        *parents, leaf = path.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = copy.deepcopy(value)

    return edit


def _edits(*edits: Callable[[dict], None]) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        for one in edits:
            one(config)

    return edit


HEADER = 'Lattice="10 0 0 0 10 0 0 0 20" Properties=species:S:1:pos:R:3 pbc="T T F"'
WATER = ["O 5 5 5", "H 5.76 5.59 5", "H 4.24 5.59 5"]


def _xyz(lines: list[str], header: str = HEADER) -> str:
    return f"{len(lines)}\n{header}\n" + "\n".join(lines) + "\n"


def _import(files: dict[str, str], pattern: str = "imports/*.xyz") -> Setup:
    """A campaign of the user's files only (``files``: name -> text) under ``imports/``."""

    def setup(run: Path) -> list[str]:
        (run / "imports").mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (run / "imports" / name).write_text(text)
        config = tiny_config()
        for family in config["structures"]["families"].values():
            family["count"] = 0
        config["structures"]["families"]["import"] = {"glob": pattern}
        (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return _snakemake(run, "-n", "--configfile", str(run / "config.yaml"))

    return setup


def _import_own_results(run: Path) -> list[str]:
    """An import glob that matches the run's own structures (each rerun would add a sample)."""
    (run / "results" / "structures").mkdir(parents=True)
    (run / "results" / "structures" / "import-00000.extxyz").write_text(_xyz(WATER))
    return _import({}, pattern="results/structures/*.extxyz")(run)


# ---- stage files: the real rules on prepared folders ----------------------------------------

SAMPLES = ["ice_basal-00000", "ice_basal-00001"]
DATASET_SNAKEFILE = """
from snakemake.utils import validate
from iceafm.data.splits import SPLITS

configfile: "config.yaml"
validate(config, "{repo}/workflow/schemas/config.schema.yaml")
SAMPLES = {samples}

include: "{repo}/workflow/rules/dataset.smk"
"""
DFT_FIGURE_SNAKEFILE = """
from snakemake.utils import validate

configfile: "config.yaml"
validate(config, "{repo}/workflow/schemas/config.schema.yaml")
SAMPLES = {samples}


def plot_samples():
    return SAMPLES


include: "{repo}/workflow/rules/dft.smk"
"""


def _afm_npz(path: Path, **drop: bool) -> None:
    arrays = {
        "failed": np.array(False),
        "reason": np.array(""),
        "df": np.zeros((1, 5, 24, 24), np.float32),
        "heights_a": np.linspace(3.0, 3.4, 5),
        "pixel_size_a": np.array(0.2),
        "settings_json": np.array("{}"),
        "view_center_a": np.zeros((1, 2)),
        "view_rotation_deg": np.zeros(1),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k: v for k, v in arrays.items() if not drop.get(k)})


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _dataset_rule(damage: Callable[[Path], None]) -> Setup:
    """The real dataset rule over prepared AFM and label files, ``damage`` applied to them."""

    def setup(run: Path) -> list[str]:
        (run / "Snakefile").write_text(
            DATASET_SNAKEFILE.format(repo=REPO, samples=json.dumps(SAMPLES))
        )
        (run / "config.yaml").write_text(yaml.safe_dump({"dataset": tiny_config()["dataset"]}))
        for sample in SAMPLES:
            _afm_npz(run / "results" / "afm" / f"{sample}.npz")
            labels = run / "results" / "labels" / f"{sample}.npz"
            labels.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(
                labels,
                targets=np.zeros((1, 2, 4, 6, 6), np.float32),
                voxel_size_a=np.ones(3),
                species=np.array(["O", "H"]),
                settings_json=np.array("{}"),
            )
        damage(run)
        target = "results/dataset/manifest.json"
        return [PYTHON, "-m", "snakemake", "--snakefile", str(run / "Snakefile"),
                "--directory", str(run), "--cores", "1", target]  # fmt: skip

    return setup


def _dft_figure_rule(damage: Callable[[Path], None]) -> Setup:
    """The real plot_dft rule over one prepared DFT result, ``damage`` applied to it."""

    def setup(run: Path) -> list[str]:
        from ase.build import molecule

        from iceafm.dft.cube import write_cube_atomic
        from iceafm.dft.record import write_record

        sample = SAMPLES[0]
        (run / "Snakefile").write_text(
            DFT_FIGURE_SNAKEFILE.format(repo=REPO, samples=json.dumps([sample]))
        )
        (run / "config.yaml").write_text("{}\n")
        water = molecule("H2O", vacuum=3.0)
        (run / "results" / "structures").mkdir(parents=True)
        (run / "results" / "structures" / f"{sample}.extxyz").write_text(_xyz(WATER))
        out = run / "results" / "dft" / sample
        grid = np.random.default_rng(0).random((20, 20, 20))
        for name in ("hartree.cube", "density.cube"):
            write_cube_atomic(out / name, water, grid, np.zeros(3), "test grid")
        write_record(out / "dft.json", {"status": "converged", "energy_ev": -1.0})
        damage(run)
        return [PYTHON, "-m", "snakemake", "--snakefile", str(run / "Snakefile"),
                "--directory", str(run), "--cores", "1", "results/figures/dft.png"]  # fmt: skip

    return setup


def _truncated_split(run: Path) -> list[str]:
    """The training command on a dataset split cut short (a copy interrupted)."""
    import h5py

    split = run / "results" / "dataset" / "train.h5"
    split.parent.mkdir(parents=True)
    with h5py.File(split, "w") as h5:
        h5["df"] = np.zeros((4, 5, 24, 24), np.float32)
    _truncate(split)
    return [PYTHON, "-m", "iceafm.models.train", "--config-json", "{}", "--train", str(split),
            "--state", str(run / "state.pt"), "--log-csv", str(run / "log.csv")]  # fmt: skip


# ---- command-line tools ----------------------------------------------------------------------


def _cli(*args: str, files: dict[str, str] | None = None) -> Setup:
    def setup(run: Path) -> list[str]:
        for name, text in (files or {}).items():
            (run / name).parent.mkdir(parents=True, exist_ok=True)
            (run / name).write_text(text)
        return [PYTHON, "-m", *(a.replace("{run}", str(run)) for a in args)]

    return setup


DFT_ARGS = ("iceafm.dft", "--hartree", "{run}/h.cube", "--density", "{run}/d.cube",
            "--record", "{run}/dft.json", "--scratch", "{run}/scratch")  # fmt: skip


def _metal(metal: str, size: list[int]) -> Callable[[dict], None]:
    return _set("structures.families.bilayer_metal", {"count": 1, "metal": metal,
                                                      "surface_size": size})  # fmt: skip


TABLE: list[BadInput] = [
    # -- cross-field constraints and estimates (knowable before the run)
    BadInput("premelt-melt-equals-bilayers", "config", "premelt.melt_bilayers", True,
             _dry_run_with(_set("structures.families.premelt.melt_bilayers", 2))),
    BadInput("premelt-melt-above-bilayers", "config", "premelt.melt_bilayers", True,
             _dry_run_with(_edits(_set("structures.families.premelt.bilayers", 3),
                                  _set("structures.families.premelt.melt_bilayers", 5)))),
    BadInput("premelt-count-above-md-frames", "config", "premelt.count", True,
             _dry_run_with(_set("structures.families.premelt.count", 3))),
    BadInput("premelt-negative-undercooling", "config", "temperatures_below_tm_k", True,
             _dry_run_with(_set("structures.families.premelt.temperatures_below_tm_k", [-5.0]))),
    BadInput("md-platform-unknown", "config", "platform", True,
             _dry_run_with(_set("structures.families.premelt.resources",
                                {"platform": "Metal"}))),
    BadInput("cu-surface-not-multiple", "config", "bilayer_metal.surface_size", True,
             _dry_run_with(_metal("Cu", [4, 2, 2]))),
    BadInput("au-surface-not-multiple", "config", "bilayer_metal.surface_size", True,
             _dry_run_with(_metal("Au", [3, 4, 2]))),
    BadInput("bilayer-orientation-unknown", "config", "orientation", True,
             _dry_run_with(_set("structures.families.bilayer_metal.orientation", "sideways"))),
    BadInput("cluster-shape-unknown", "config", "shapes", True,
             _dry_run_with(_set("structures.families.cluster_metal.shapes", ["ring", "star"]))),
    BadInput("cluster-molecules-reversed", "config", "cluster_metal.molecules", True,
             _dry_run_with(_set("structures.families.cluster_metal.molecules", [40, 4]))),
    BadInput("cluster-surface-not-multiple", "config", "cluster_metal.surface_size", True,
             _dry_run_with(_set("structures.families.cluster_metal.surface_size", [5, 4, 1]))),
    BadInput("fractions-sum-below-1", "config", "dataset.fractions", True,
             _dry_run_with(_set("dataset.fractions", {"train": 0.5, "val": 0.1, "test": 0.1}))),
    BadInput("fractions-sum-above-1", "config", "dataset.fractions", True,
             _dry_run_with(_set("dataset.fractions", {"train": 0.9, "val": 0.3, "test": 0.1}))),
    BadInput("scan-petabytes", "config", "afm.scan.pixel_size_a", True,
             _dry_run_with(_set("afm.scan", {"size_a": [200, 200], "pixel_size_a": 0.0001}))),
    BadInput("scan-many-views-heights", "config", "afm.scan.pixel_size_a", True,
             _dry_run_with(_edits(
                 _set("afm.scan", {"size_a": [200, 200], "pixel_size_a": 0.02, "n_heights": 100}),
                 _set("afm.views", {"count": 1000})))),
    BadInput("dataset-terabytes", "config", "afm.scan.size_a", True,
             _dry_run_with(_edits(
                 _set("structures.families.ice_basal.count", 5000),
                 _set("afm.scan", {"size_a": [50, 50], "pixel_size_a": 0.05, "n_heights": 75}),
                 _set("afm.views", {"count": 10})))),
    BadInput("scan-smaller-than-pixel", "config", "afm.scan.size_a", True,
             _dry_run_with(_set("afm.scan", {"size_a": [0.1, 0.1], "pixel_size_a": 0.2}))),
    BadInput("tip-range-reversed", "config", "afm.tip_ranges.charge_e", True,
             _dry_run_with(_set("afm.tip_ranges", {"charge_e": [0.2, -0.2]}))),
    BadInput("tip-range-one-value", "config", "afm.tip_ranges.charge_e", True,
             _dry_run_with(_set("afm.tip_ranges", {"charge_e": [0.2]}))),
    BadInput("label-voxel-wider-than-image", "config", "labels.voxel_xy_px", True,
             _dry_run_with(_set("labels.voxel_xy_px", 64))),
    BadInput("robust-smearing-above-1ev", "config", "dft.robust.smearing_factor", True,
             _dry_run_with(_edits(_set("afm.electrostatics", "hartree"),
                                  _set("dft.smearing_ev", 0.5),
                                  _set("dft.robust", {"smearing_factor": 4.0})))),
    BadInput("checkpoint-interval-above-maxiter", "config", "dft.resources.checkpoint_every",
             True, _dry_run_with(_edits(_set("afm.electrostatics", "hartree"),
                                        _set("dft.maxiter", 50),
                                        _set("dft.resources.checkpoint_every", 100)))),
    BadInput("count-beyond-sample-ids", "config", "ice_basal.count", True,
             _dry_run_with(_set("structures.families.ice_basal.count", 200000))),
    BadInput("no-samples", "config", "structures.families", True,
             _dry_run_text("structures:\n  families:\n    ice_basal: {count: 0}\n")),
    # -- single keys (schema)
    BadInput("bilayers-zero", "config", "ice_basal.bilayers", True,
             _dry_run_with(_set("structures.families.ice_basal.bilayers", 0))),
    BadInput("bilayers-wrong-type", "config", "ice_basal.bilayers", True,
             _dry_run_with(_set("structures.families.ice_basal.bilayers", "two"))),
    BadInput("unknown-key", "config", "sed", True, _dry_run_with(_set("structures.sed", 1))),
    BadInput("metal-unknown", "config", "bilayer_metal.metal", True,
             _dry_run_with(_metal("Pt", [3, 2, 2]))),
    BadInput("electrostatics-unknown", "config", "afm.electrostatics", True,
             _dry_run_with(_set("afm.electrostatics", "dft"))),
    BadInput("pixel-size-negative", "config", "afm.scan.pixel_size_a", True,
             _dry_run_with(_set("afm.scan.pixel_size_a", -0.1))),
    BadInput("dft-ranks-zero", "config", "dft.resources.ranks", True,
             _dry_run_with(_set("dft.resources.ranks", 0))),
    # -- duplicate keys (Snakemake keeps the last one silently)
    BadInput("duplicate-section", "duplicate", "'afm'", True,
             _dry_run_text("afm:\n  electrostatics: none\nafm:\n  electrostatics: hartree\n"
                           "structures:\n  families:\n    ice_basal: {count: 1}\n")),
    BadInput("duplicate-nested-key", "duplicate", "ice_basal.count", True,
             _dry_run_text("structures:\n  families:\n    ice_basal:\n      count: 1\n"
                           "      count: 2\n")),
    BadInput("duplicate-flow-key", "duplicate", "dataset.fractions.train", True,
             _dry_run_text("structures:\n  families:\n    ice_basal: {count: 3}\ndataset:\n"
                           "  fractions: {train: 0.5, train: 0.8, val: 0.1, test: 0.1}\n")),
    # -- the config file itself (through the launcher: Snakemake reads it before the workflow)
    BadInput("yaml-unclosed-bracket", "yaml", "config.yaml:3", True,
             _dry_run_text("structures:\n  seed: [1, 2\n", launcher=True)),
    BadInput("yaml-tab-indent", "yaml", "config.yaml:2", True,
             _dry_run_text("structures:\n\tseed: 1\n", launcher=True)),
    BadInput("yaml-bad-indent", "yaml", "config.yaml:3", True,
             _dry_run_text("structures:\n  seed: 1\n families: {}\n", launcher=True)),
    BadInput("yaml-top-level-list", "yaml", "config.yaml", True,
             _dry_run_text("- structures\n- dft\n", launcher=True)),
    BadInput("config-file-missing", "yaml", "nope.yaml", True,
             _cli("iceafm.launch", "-n", "--configfile", "{run}/nope.yaml")),
    # -- import structures: every atom of every file, before any job
    BadInput("import-empty-file", "import", "empty.xyz", True, _import({"empty.xyz": ""})),
    BadInput("import-unknown-element", "import", "xx.xyz", True,
             _import({"xx.xyz": _xyz([*WATER, "Xx 1 1 1"])})),
    BadInput("import-nan-position", "import", "nan.xyz", True,
             _import({"nan.xyz": _xyz([*WATER, "Cu nan 1 1"])})),
    BadInput("import-far-atom", "import", "far.xyz", True,
             _import({"far.xyz": _xyz([*WATER, "Cu 1 1 1e30"])})),
    BadInput("import-overlapping-atoms", "import", "overlap.xyz", True,
             _import({"overlap.xyz": _xyz([*WATER, "Cu 1 1 1", "Cu 1 1 1.1"])})),
    BadInput("import-newline-in-name", "import", "bad\\nname", True,
             _import({"bad\nname.xyz": _xyz(WATER)})),
    BadInput("import-glob-matches-results", "import", "results/structures", True,
             _import_own_results),
    BadInput("import-h-without-o", "import", "lonely.xyz", True,
             _import({"lonely.xyz": _xyz([*WATER, "H 1 1 1"])})),
    BadInput("import-o-with-one-h", "import", "oh.xyz", True,
             _import({"oh.xyz": _xyz(["O 5 5 5", "H 5.76 5.59 5"])})),
    BadInput("import-gas-phase-water-on-top", "import", "vapour.xyz", True,
             _import({"vapour.xyz": _xyz([*WATER, "Cu 5 5 2.5",
                                          "O 5 5 12", "H 5.76 5.59 12", "H 4.24 5.59 12"])})),
    BadInput("import-no-cell", "import", "nocell.xyz", True,
             _import({"nocell.xyz": _xyz(WATER, header="water without a cell")})),
    BadInput("import-not-periodic", "import", "molecule.xyz", True,
             _import({"molecule.xyz": _xyz(WATER, header=HEADER.replace("T T F", "F F F"))})),
    BadInput("import-garbage", "import", "garbage.xyz", True,
             _import({"garbage.xyz": "this is not\nan xyz file at all\n"})),
    BadInput("import-wrong-suffix", "import", "water.pdb", True,
             _import({"water.pdb": _xyz(WATER)}, pattern="imports/*")),
    BadInput("import-no-water", "import", "copper.xyz", True,
             _import({"copper.xyz": _xyz(["Cu 1 1 1", "Cu 3 3 1"])})),
    # -- stage files at job time: the real rules name the file in one line
    BadInput("truncated-afm-npz", "file", "results/afm/ice_basal-00000.npz", False,
             _dataset_rule(lambda run: _truncate(run / "results/afm/ice_basal-00000.npz"))),
    BadInput("truncated-labels-npz", "file", "results/labels/ice_basal-00000.npz", False,
             _dataset_rule(lambda run: _truncate(run / "results/labels/ice_basal-00000.npz"))),
    BadInput("afm-npz-missing-array", "file", "results/afm/ice_basal-00001.npz", False,
             _dataset_rule(lambda run: _afm_npz(run / "results/afm/ice_basal-00001.npz",
                                                failed=True))),
    BadInput("truncated-hartree-cube", "file", "hartree.cube", False,
             _dft_figure_rule(lambda run: _truncate(
                 run / "results/dft/ice_basal-00000/hartree.cube", 0.3))),
    BadInput("truncated-density-cube", "file", "density.cube", False,
             _dft_figure_rule(lambda run: _truncate(
                 run / "results/dft/ice_basal-00000/density.cube", 0.6))),
    BadInput("truncated-dataset-split", "file", "results/dataset/train.h5", False,
             _truncated_split),
    # -- command-line tools
    BadInput("dft-settings-not-json", "cli", "--settings", True,
             _cli(*DFT_ARGS, "--structure", "{run}/w.xyz", "--settings", "{mode: lcao",
                  files={"w.xyz": _xyz(WATER)})),
    BadInput("dft-structure-missing", "cli", "missing.extxyz", True,
             _cli(*DFT_ARGS, "--structure", "{run}/missing.extxyz", "--settings", "{}")),
    BadInput("dft-settings-incomplete", "cli", "dft", True,
             _cli(*DFT_ARGS, "--structure", "{run}/w.xyz", "--settings", '{"mode": "lcao"}',
                  files={"w.xyz": _xyz(WATER)})),
    BadInput("dft-attempt-zero", "cli", "attempt", True,
             _cli(*DFT_ARGS, "--structure", "{run}/w.xyz", "--attempt", "0", "--settings",
                  json.dumps({"retries": 2}), files={"w.xyz": _xyz(WATER)})),
    BadInput("plan-config-missing", "cli", "absent.yaml", True,
             _cli("iceafm.plan", "--configfile", "{run}/absent.yaml")),
    BadInput("plan-bad-benchmark", "cli", "x.bench.tsv", True,
             _cli("iceafm.plan", "--configfile", str(REPO / ".test/config/config.yaml"),
                  "--profile", str(REPO / "profiles/local"), "--bench-dir", "{run}",
                  files={"logs/afm/x.bench.tsv": "no\tcolumns\n1\t2\n"})),
]


def first_error_line(output: str, before_jobs: bool) -> str:
    """The line of ``output`` that must name the culprit: for an input known before the run
    the very first line (nothing may come before it); for a job-time failure the first line
    that reports a problem after Snakemake's job listing ('' if none)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if before_jobs:
        return lines[0] if lines else ""
    return next((line for line in lines if ERROR_WORDS.search(line)), "")


def run_case(case: BadInput, run: Path, timeout_s: float = 180) -> Outcome:
    """Prepare ``run`` (an empty folder), run the row's command there and judge the outcome.
    A command still running after ``timeout_s`` is stopped and counts as accepted (silent)."""
    run.mkdir(parents=True, exist_ok=True)
    command = case.setup(run)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(
            command, cwd=run, env=env, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=timeout_s, check=False,
        )  # fmt: skip
        output, returncode = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as err:
        output = err.stdout.decode() if isinstance(err.stdout, bytes) else err.stdout or ""
        returncode = 0  # still working on the input: it was not refused
    line = first_error_line(output, case.before_jobs)
    silent = returncode == 0
    traceback = bool(TRACEBACK.search(output))
    stopped = None
    if case.before_jobs:
        stopped = not silent and not JOB_HEADER.search(output)
    return Outcome(
        name=case.name,
        kind=case.kind,
        returncode=returncode,
        first_error_line=line,
        silent=silent,
        traceback=traceback,
        one_line=not silent and not traceback and case.culprit in line,
        before_jobs=case.before_jobs,
        stopped_before_jobs=stopped,
    )
