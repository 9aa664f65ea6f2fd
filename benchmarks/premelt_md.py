"""Premelting MD (issue 9): OpenMM TIP4P/Ice against ASE TIP4P on the same slab, and the
quasi-liquid layer (QLL) at three temperatures below the model's melting point.

Slab: GenIce3 ice Ih basal slab, supercell [2, 2] (18.1 x 15.6 A), 6 bilayers (192 molecules),
the bottom bilayer fixed, the top five free; both engines rigid water, time step 2 fs, Langevin,
one CPU thread. Speed: CPU seconds (time.process_time, robust on a shared machine) per MD
step, setup excluded, as simulated ns per day of one core:

- ``openmm_ns_per_day``: iceafm.md.simulate.run_trajectory (TIP4P/Ice, PME with slab
  correction, cutoff 7.8 A), OpenMM CPU platform, 1 thread.
- ``ase_tip4p_ns_per_day``: iceafm.md.ase_tip4p.melt_top (ASE's TIP4P calculator, cutoff 7 A,
  vectorised RATTLE), the premelt family's former engine.

QLL: ``qll_bilayers`` = liquid-like molecules (iceafm.md.order) / molecules per bilayer, averaged
over frames every ``--frame-ps`` of the last ``--production-ps`` after ``--equilibration-ps``,
at Tm - 20, Tm - 10 and Tm - 4 K (Tm = 270 K). On this CPU only ~100 ps per temperature fit;
premelting equilibrates over nanoseconds (Conde et al. 2008 ran several ns per point; Baran et
al. 2024 hundreds of ns), so these are early-time values, not equilibrium thicknesses.

Writes ``benchmarks/results/premelt_md.json`` and ``premelt_md.png`` (profiles + side view).
Run: ``nice -n 15 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/premelt_md.py`` (about
10 min on one core).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from iceafm.figures.premelt import plot_premelt
from iceafm.md.ase_tip4p import melt_top
from iceafm.md.order import order_profile
from iceafm.md.simulate import MDSettings, choose_platform, md_box_a, run_trajectory
from iceafm.md.tip4p_ice import MELTING_POINT_K
from iceafm.structures.ice_basal import basal_slab

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, write_result  # noqa: E402

WORK = Path(__file__).resolve().parent / "work" / "premelt_md"
SUPERCELL, BILAYERS, FIXED_BILAYERS = (2, 2), 6, 1
TIMESTEP_FS = 2.0
UNDERCOOLINGS_K = (20.0, 10.0, 4.0)
REFERENCES = [
    {
        "source": "M. M. Conde, C. Vega and A. Patrykiejew, J. Chem. Phys. 129, 014702 (2008)",
        "model": "TIP4P/Ice (and SPC/E, TIP4P, TIP4P/2005), basal, primary and secondary "
        "prismatic planes, MD of several ns per temperature",
        "finding": "a liquid layer below Tm on every plane, thickening with temperature; for "
        "TIP4P/Ice the basal plane shows the first clear liquid layer at about -100 C "
        "(about 173 K); at equal undercooling the thickness is similar across models",
        "qll_bilayers": None,
        "note": "their per-temperature thicknesses (their figures) were not accessible here; "
        "only the abstract's statements are quoted",
    },
    {
        "source": "L. Baran, P. Llombart, E. G. Noya and L. G. MacDowell, arXiv:2406.16574 "
        "(2024), TIP4P/Ice basal face at solid-vapour coexistence",
        "finding": "incomplete surface melting: the premelting film's interfacial free energy "
        "has a minimum at a finite thickness of about 1 nm near Tm",
        "qll_nm_near_tm": 1.0,
        "qll_bilayers_near_tm": round(10.0 / 3.677, 1),
        "note": "1 nm / 0.3677 nm per basal bilayer; reached after hundreds of ns",
    },
]


def ns_per_day(seconds_per_step: float) -> float:
    return TIMESTEP_FS * 1e-6 / seconds_per_step * 86400


def openmm_seconds_per_step(slab, fixed, n_steps: int) -> float:
    """CPU seconds per MD step of run_trajectory: from its first log line (context built, state
    set) to its last (all steps done, one checkpoint written)."""
    settings = MDSettings(
        MELTING_POINT_K - 10, equilibration_ps=0.0, production_ps=n_steps * TIMESTEP_FS / 1000,
        frame_spacing_ps=n_steps * TIMESTEP_FS / 1000, timestep_fs=TIMESTEP_FS,
    )  # fmt: skip
    checkpoint = WORK / "speed.npz"
    checkpoint.unlink(missing_ok=True)
    stamps: list[float] = []
    run_trajectory(slab, fixed, settings, 1, checkpoint, 1e9, "CPU", 1,
                   log=lambda _: stamps.append(time.process_time()))  # fmt: skip
    return (stamps[-1] - stamps[0]) / n_steps


def ase_seconds_per_step(slab, fixed, steps: tuple[int, int]) -> float:
    """CPU seconds per MD step of melt_top (difference of two run lengths: setup excluded)."""
    cpu = []
    for n in steps:
        start = time.process_time()
        melt_top(slab, ~fixed, MELTING_POINT_K - 10, n, TIMESTEP_FS, 0.001,
                 np.random.default_rng(1))  # fmt: skip
        cpu.append(time.process_time() - start)
    return (cpu[1] - cpu[0]) / (steps[1] - steps[0])


def qll_run(slab, fixed, temperature_k, args):
    """Frames of one trajectory and the QLL per frame."""
    settings = MDSettings(
        temperature_k, equilibration_ps=args.equilibration_ps,
        production_ps=args.production_ps, frame_spacing_ps=args.frame_ps,
        timestep_fs=TIMESTEP_FS,
    )  # fmt: skip
    start = time.perf_counter()
    frames = run_trajectory(
        slab, fixed, settings, 7, WORK / f"qll-{temperature_k:.0f}.npz", 10.0, "CPU", 1,
        log=lambda line: print(f"  {temperature_k:.0f} K {line}", flush=True),
    )  # fmt: skip
    wall = time.perf_counter() - start
    per_bilayer = int((fixed.sum()) // FIXED_BILAYERS)
    profiles = [
        order_profile(f, moving=~fixed, per_bilayer=per_bilayer, n_layers=BILAYERS)
        for f in frames
    ]
    return frames, profiles, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--equilibration-ps", type=float, default=60.0)
    parser.add_argument("--production-ps", type=float, default=40.0)
    parser.add_argument("--frame-ps", type=float, default=5.0)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    slab, bilayer = basal_slab(SUPERCELL, BILAYERS, 10.0, genice_seed=11)
    fixed = bilayer < FIXED_BILAYERS
    n_water = len(slab) // 3

    openmm_s = openmm_seconds_per_step(slab, fixed, 2000)
    ase_s = ase_seconds_per_step(slab, fixed, (5, 25))
    print(f"OpenMM {ns_per_day(openmm_s):.2f} ns/day, ASE {ns_per_day(ase_s):.4f} ns/day")

    results, profiles_mean, last = {}, {}, {}
    for undercooling in UNDERCOOLINGS_K:
        temperature = MELTING_POINT_K - undercooling
        frames, profiles, wall = qll_run(slab, fixed, temperature, args)
        qll = np.array([p.qll_bilayers for p in profiles])
        results[f"{temperature:.0f}"] = {
            "temperature_k": temperature,
            "below_tm_k": undercooling,
            "qll_bilayers": round(float(qll.mean()), 3),
            "qll_bilayers_std_over_frames": round(float(qll.std()), 3),
            "qll_bilayers_per_frame": [round(float(x), 3) for x in qll],
            "q_mean_per_bilayer": [
                round(float(x), 3) for x in np.mean([p.q_mean for p in profiles], axis=0)
            ],
            "wall_s": round(wall, 1),
        }
        mean = profiles[-1].__class__(
            z_a=profiles[-1].z_a,
            q_mean=np.mean([p.q_mean for p in profiles], axis=0),
            liquid_fraction=np.mean([p.liquid_fraction for p in profiles], axis=0),
            count=profiles[-1].count,
            qll_bilayers=float(qll.mean()),
        )
        profiles_mean[temperature] = mean
        last[temperature] = frames[-1]
        print(f"{temperature:.0f} K: QLL {qll.mean():.2f} +- {qll.std():.2f} bilayers", flush=True)

    warmest = max(last)
    plot_premelt(
        profiles_mean, last[warmest],
        f"{warmest:.0f} K after {args.equilibration_ps + args.production_ps:.0f} ps (x-z)",
        RESULTS / "premelt_md.png",
    )  # fmt: skip
    qll_values = [results[k]["qll_bilayers"] for k in sorted(results)]
    box, _ = md_box_a(slab, 9.0)
    record = {
        **machine_info(("openmm", "ase", "genice3")),
        "device": f"CPU ({choose_platform('CPU', 1)[0].getName()} platform, 1 thread): "
        + machine_info()["machine"]["cpu"],
        "molecules": n_water,
        "slab": {
            "supercell": list(SUPERCELL), "bilayers": BILAYERS, "fixed_bilayers": FIXED_BILAYERS,
            "md_box_a": [round(float(x), 2) for x in box], "timestep_fs": TIMESTEP_FS,
        },  # fmt: skip
        "openmm_ns_per_day": round(ns_per_day(openmm_s), 3),
        "ase_tip4p_ns_per_day": round(ns_per_day(ase_s), 5),
        "ratio_openmm_over_ase": round(ase_s / openmm_s, 1),
        "goal_ratio": 50,
        "melting_point_k": MELTING_POINT_K,
        "qll_bilayers": results,
        "qll_thickens_towards_tm": bool(np.all(np.diff(qll_values) >= 0)),
        "md_per_temperature_ps": {
            "equilibration": args.equilibration_ps, "production": args.production_ps,
            "frame_spacing": args.frame_ps,
        },  # fmt: skip
        "references": REFERENCES,
        "caveat": "about 100 ps per temperature on one CPU core: early-time QLL, not the "
        "equilibrium thickness, which needs nanoseconds (a GPU node: OpenMM CUDA runs such a "
        "192-molecule slab at several hundred ns/day, so 3 x 50 ns in about a day)",
        "figure": "benchmarks/results/premelt_md.png",
    }
    path = write_result("premelt_md", record)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
