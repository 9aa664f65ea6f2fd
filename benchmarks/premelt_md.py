"""Premelting MD (issue 9): OpenMM TIP4P/Ice against ASE TIP4P on the same slab, and the
quasi-liquid layer (QLL) at three temperatures below the model's melting point.

Slab: GenIce3 ice Ih basal slab, supercell [2, 2] (18.1 x 15.6 A), 6 bilayers (192 molecules),
the bottom bilayer fixed, the top five free; both engines rigid water, time step 2 fs, Langevin.
Speed (:func:`interleaved_speeds`): both engines set up once, then timed in short interleaved
stretches (OpenMM 1 thread, ASE, OpenMM 2 threads; the order reversed every other round), so
that a shared machine's changing load hits both alike; the medians give, as simulated ns per
day of one core (CPU seconds of the process per step, time.process_time: it counts OpenMM's
worker thread, where the stepping runs):

- ``openmm_ns_per_day``: iceafm.md.simulate.slab_context, as run_trajectory runs it
  (TIP4P/Ice, PME with slab correction, cutoff 7.8 A, PME tolerance 5e-4), OpenMM CPU
  platform, 1 thread.
- ``ase_tip4p_ns_per_day``: iceafm.md.ase_tip4p.tip4p_dynamics, as melt_top runs it (ASE's
  TIP4P calculator, cutoff 7 A, vectorised RATTLE), the premelt family's former engine.

``ratio_openmm_over_ase`` is the ratio of the two medians, ``ratio_per_pair`` the spread of
the per-round ratios; ``node`` the same from wall time with OpenMM on both cores (rule md's
default of 2 threads), meaningful only on an idle machine. On a GPU node, ``--speed-only
--speed-gpu CUDA --speed-out F`` adds OpenMM on the GPU to the same rounds; then the top-level
keys compare it (wall clock) with ASE on one core, as rule md runs there, and the per-core CPU
comparison moves to ``cpu_platform``; the analysis elsewhere takes that record with
``--speed-from F``.

QLL at Tm - 20, Tm - 10 and Tm - 4 K (Tm = 270 K): ``--runs`` independent trajectories per
temperature (same slab, seeds :func:`md_seed`; each as far as it has grown, up to
``--length-ps``), frames every ``--frame-ps``, grown from resumable checkpoints under
``benchmarks/work/premelt_md/`` (``--grow-only``: run the MD only, in rounds, round robin over
the temperatures and runs, so that a run stopped early leaves them equally long; or with
``--parallel`` all at once, one process each, for at most ``--budget-s`` on a GPU's
``--platform``; then the plain command measures and analyses without more MD).
``qll_bilayers``: liquid-like free molecules per molecules in a bilayer, liquid-like meaning a
neighbour-averaged tetrahedral q below a cut calibrated on bulk ice Ih at the same temperature
(its 1 % quantile), averaged over the frames after ``--equilibration-ps`` of each trajectory,
pooled over the trajectories, with a standard error from the means of ``BLOCK_PS`` blocks pooled
across them; cross-checked by the fixed cut q < 0.85 and by the distance of each O from the
ideal lattice sites (see ``QLL_DEFINITION``). Premelting equilibrates over nanoseconds (Conde et
al. 2008 ran several ns per point; Baran et al. 2024 hundreds of ns): on one shared CPU core
about 1 ns per temperature fits.

``--export-frames`` keeps every 10th frame (50 ps) after ``--equilibration-ps`` of the grown
trajectories in the repository (``benchmarks/data/premelt_md_frames.npz``, float32, about 3 MB):
the domain-adaptation benchmark's thermal reference and MD training frames, which then need
neither the checkpoints (ignored) nor a GPU to regrow them; ``benchmarks/gpu_md_frames.sh``
grows and exports them on a GPU node.

Writes ``benchmarks/results/premelt_md.json`` and ``premelt_md.png`` (profiles, QLL against
time, side view). Run: ``nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python
benchmarks/premelt_md.py --grow-only --length-ps 1000`` (about 1 h on one core), then the same
without ``--grow-only`` (about 10 min: speeds, analysis; the bulk ice references, cached under
``benchmarks/work/premelt_md/``, take about 20 min more the first time, or run them alone with
``--calibrate-only``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from iceafm.figures.premelt import plot_premelt
from iceafm.io.atomic import atomic_path, write_json_atomic
from iceafm.md.ase_tip4p import tip4p_dynamics
from iceafm.md.order import (
    BILAYER_A,
    Q_LIQUID,
    OrderProfile,
    averaged_order,
    bilayer_index,
    calibrated_cut,
    site_distance,
)
from iceafm.md.simulate import (
    PLATFORMS,
    MDSettings,
    choose_platform,
    md_box_a,
    run_digest,
    run_trajectory,
    sample_bulk,
    slab_context,
    start_state,
)
from iceafm.md.tip4p_ice import MELTING_POINT_K
from iceafm.structures.ice_basal import basal_slab, ice_ih_bulk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, write_result  # noqa: E402

WORK = Path(__file__).resolve().parent / "work" / "premelt_md"
#: The trajectories' frames kept in the repository (``--export-frames``): the domain-adaptation
#: benchmark's thermal reference and MD training frames, readable without the checkpoints
#: (ignored, and a GPU to regrow). Every EXPORT_EVERY-th frame after the equilibration.
FRAMES = Path(__file__).resolve().parent / "data" / "premelt_md_frames.npz"
EXPORT_EVERY = 10
SUPERCELL, BILAYERS, FIXED_BILAYERS = (2, 2), 6, 1
TIMESTEP_FS = 2.0
OPENMM_STEPS, ASE_STEPS = 200, 5  # per timed stretch: about 0.5 s each on one core
OPENMM_GPU_STEPS = 2000  # per timed stretch on a GPU: about 0.1 s on an H100
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
    {
        "source": "C. Vega, M. Martin-Conde and A. Patrykiejew, Mol. Phys. 104, 3583 (2006)",
        "finding": "ice Ih with a free surface, runs of more than 7 ns: a thin liquid layer "
        "below Tm while the block stays stable; at Tm the whole block melts from the surface",
        "qll_bilayers": None,
    },
    {
        "source": "J. Shi, M. Fulford, H. Li, M. Marzook, M. Reisjalali, M. Salvalaglio and "
        "C. Molteni, Phys. Chem. Chem. Phys. (2022), doi:10.1039/D2CP00752E, TIP4P/Ice surfaces",
        "finding": "order parameters (Steinhardt variants, entropy fingerprint, DeepIce) give "
        "qualitatively the same QLL; its thickness increases gradually with temperature; "
        "they differ mainly at the solid-liquid boundary, as ours do",
        "qll_bilayers": None,
    },
]


CPU_TIME_NOTE = (
    "timed in the process that also holds the GPU's OpenMM context, whose driver threads add "
    "CPU seconds to every stretch: the per-core (CPU-second) figures here are not comparable "
    "with a CPU-only run's; the wall-clock ones (ratio_wall_1_thread, node) are"
)
BLOCK_PS = 200.0  # block length of the pooled error over trajectories (the QLL decorrelates
# within ~100 ps: the per-100-ps means of one trajectory scatter as much as independent ones)
BLOCKS_CHECKED_PS = (100.0, 200.0, 400.0)
FALSE_LIQUID_RATE = 0.01
BULK_PS = (20.0, 80.0)  # equilibration, sampling of each bulk ice reference run
BULK_FRAME_PS = 0.5
BULK_SEEDS = (1, 2, 3)  # proton disorder (GenIce3) and MD seed of the bulk runs
CRITERIA = ("q", "q_fixed_cut", "site")
# QLL against the equilibration dropped (ps)
DROPS_CHECKED_PS = (100.0, 200.0, 300.0, 400.0, 600.0, 1000.0, 1500.0)
QLL_DEFINITION = (
    "liquid-like molecules among the free ones, per molecules in a bilayer (32), per frame; "
    "mean over the frames after each trajectory's dropped equilibration, pooled over the "
    f"trajectories; standard error from the {BLOCK_PS:.0f} ps block means of all trajectories "
    "together (qll_bilayers_sem_by_block_ps: other block lengths); "
    "the slab has one free surface (top), so this is the top surface's QLL. Liquid-like: "
    "neighbour-averaged tetrahedral q (iceafm.md.order) below q_cut, the 1 % quantile of q in "
    f"bulk ice Ih at the same temperature (128 molecules, the slab's lateral cell, NVT; "
    f"{len(BULK_SEEDS)} runs with different proton disorder, {BULK_PS[1]:.0f} ps each after "
    f"{BULK_PS[0]:.0f} ps, pooled; q_cut_sem from the spread of the runs' own cuts, "
    "qll_bilayers_at_q_cut_pm_sem the QLL at q_cut -/+ q_cut_sem; "
    "1 % of bulk ice is miscalled: a bias of at most +0.05 bilayers here). Cross-checks: "
    f"q < {Q_LIQUID} (qll_bilayers_q_fixed_cut) and O farther than site_cut_a (the bulk's 99 % "
    "quantile of the distance to its site) from every ideal lattice site (qll_bilayers_site)"
)


def block_means(values: np.ndarray, times_ps: np.ndarray, block_ps: float) -> np.ndarray:
    """Means of ``values`` over consecutive ``block_ps`` windows of ``times_ps`` (ps)."""
    index = ((np.asarray(times_ps) - 1e-9) // block_ps).astype(int)
    return np.bincount(index, weights=values) / np.bincount(index)


def ns_per_day(seconds_per_step: float) -> float:
    return TIMESTEP_FS * 1e-6 / seconds_per_step * 86400


def _timed(run) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process: every thread, OpenMM's workers too) of
    ``run()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved_speeds(slab, fixed, pairs: int, gpu: str | None = None) -> dict:
    """Seconds per MD step of both engines on ``slab``, measured interleaved.

    Set up once (not timed): OpenMM as run_trajectory builds it (slab_context: TIP4P/Ice, PME
    with the slab correction, cutoff 7.8 A, PME tolerance 5e-4) on the CPU platform with 1
    thread and with 2 threads (rule md's default on this 2-core node), and ASE as melt_top
    runs it (tip4p_dynamics: TIP4P cutoff 7 A, RATTLE; numpy on one thread); a warm-up of each.
    Then ``pairs`` rounds of [OpenMM 1 thread, ASE, OpenMM 2 threads], the order reversed
    every other round so that a drifting machine load hits both alike, each a short stretch of
    the same continuing trajectory (``OPENMM_STEPS`` / ``ASE_STEPS`` steps, about 0.5 s).

    With ``gpu`` (an OpenMM platform name, e.g. ``CUDA``), OpenMM on that platform joins the
    rounds (``OPENMM_GPU_STEPS`` steps a stretch, timed by wall clock after a synchronising
    getState, as a GPU's time does not show in the process's CPU time).

    Returns:
        Per round, seconds per step: ``openmm_cpu`` and ``ase_cpu`` (CPU seconds of the process,
        time.process_time, which counts OpenMM's worker thread: with Threads=1 the stepping
        runs there, not in the calling thread), ``openmm_wall``, ``ase_wall``,
        ``openmm_node_wall`` (2 threads), with ``gpu`` also ``openmm_gpu_wall``, each [pairs].
    """
    temperature = MELTING_POINT_K - 10
    settings = MDSettings(temperature, 0.0, 1.0, 1.0, timestep_fs=TIMESTEP_FS)
    engines, contexts = {}, []  # the contexts must outlive the timing (integrators need them)
    setups = [("openmm", "CPU", 1, OPENMM_STEPS), ("openmm_node", "CPU", 2, OPENMM_STEPS)]
    if gpu:
        setups.append(("openmm_gpu", gpu, 1, OPENMM_GPU_STEPS))
    for name, platform, threads, steps in setups:
        context, integrator, _, shift, _ = slab_context(slab, fixed, settings, platform, threads)
        start_state(context, slab, shift, temperature, seed=1)
        integrator.step(steps)  # warm-up (a GPU compiles its kernels here)

        def run(n: int, integrator=integrator, context=context) -> None:
            integrator.step(n)
            context.getState()  # waits for the device to finish the steps

        engines[name] = (run, steps)
        contexts.append(context)
    _, dynamics = tip4p_dynamics(slab, ~fixed, temperature, TIMESTEP_FS, 0.001,
                                 np.random.default_rng(1))  # fmt: skip
    dynamics.run(2)  # warm-up
    engines["ase"] = (dynamics.run, ASE_STEPS)
    times = {f"{name}_{clock}": [] for name in engines for clock in ("wall", "cpu")}
    for k in range(pairs):
        for name in list(engines)[:: 1 if k % 2 == 0 else -1]:
            run, steps = engines[name]
            wall, cpu = _timed(lambda run=run, steps=steps: run(steps))
            times[f"{name}_wall"].append(wall / steps)
            times[f"{name}_cpu"].append(cpu / steps)
    return {k: np.array(v) for k, v in times.items()
            if k not in ("openmm_node_cpu", "openmm_gpu_cpu")}  # fmt: skip


def step_profile(slab, fixed, rounds: int = 20, steps: int = 50) -> dict:
    """Where an OpenMM CPU step (1 thread, slab_context as run_trajectory builds it) goes: CPU
    ms per step integrating only one force group (direct-space nonbonded, PME reciprocal space,
    the slab correction) or none (integrator, SETTLE, virtual sites), interleaved over
    ``rounds`` rounds of ``steps`` steps from the same state (medians); and the Python side of
    run_trajectory per step: a frame's getState every 5 ps, a checkpoint's XML every 20 ps."""
    import openmm as mm

    settings = MDSettings(MELTING_POINT_K - 10, 0.0, 1.0, 1.0, timestep_fs=TIMESTEP_FS)
    context, integrator, _, shift, _ = slab_context(slab, fixed, settings, "CPU", 1)
    for force in context.getSystem().getForces():  # groups: 0 direct, 1 reciprocal, 2 slab
        if isinstance(force, mm.NonbondedForce):
            force.setReciprocalSpaceForceGroup(1)
        else:
            force.setForceGroup(2)
    context.reinitialize()
    start_state(context, slab, shift, settings.temperature_k, seed=1)
    integrator.step(100)
    state = context.getState(getPositions=True, getVelocities=True)
    parts = {"all": {0, 1, 2}, "direct_nonbonded": {0}, "pme_reciprocal": {1},
             "slab_correction": {2}, "no_forces": {3}}  # fmt: skip
    times = {name: [] for name in parts}
    for k in range(rounds):
        for name in list(parts)[:: 1 if k % 2 == 0 else -1]:
            integrator.setIntegrationForceGroups(parts[name])
            context.setState(state)  # one force group alone would drift far: restart each time
            times[name].append(_timed(lambda: integrator.step(steps))[1] / steps * 1e3)
    ms = {name: float(np.median(v)) for name, v in times.items()}
    integrator.setIntegrationForceGroups({0, 1, 2})
    context.setState(state)
    frame_ms = _timed(lambda: context.getState(getPositions=True).getPositions(asNumpy=True))[1]
    xml_ms = _timed(lambda: mm.XmlSerializer.serialize(context.getState(
        getPositions=True, getVelocities=True, getEnergy=True, getParameters=True)))[1]  # fmt: skip
    step_s = TIMESTEP_FS * 1e-3
    record = {"all_ms": round(ms["all"], 3), "integrator_constraints_virtual_sites_ms":
              round(ms["no_forces"], 3)}  # fmt: skip
    for name in ("direct_nonbonded", "pme_reciprocal", "slab_correction"):
        record[f"{name}_ms"] = round(ms[name] - ms["no_forces"], 3)
    record["python_frames_and_checkpoints_ms"] = round(
        (frame_ms * 1e3 * step_s / 5.0 + xml_ms * 1e3 * step_s / 20.0), 5)
    record["what"] = (f"CPU ms per step, medians of {rounds} interleaved rounds of {steps} "
                      "steps integrating one force group at a time (minus the no-force step "
                      "for each force); python_*: getState of a frame every 5 ps and a "
                      "checkpoint's state XML every 20 ps, per step")  # fmt: skip
    return record


def box_accuracy(slab, fixed, frame) -> dict:
    """Relative RMS error of the forces on the free atoms of ``frame`` (A, a premelted frame of
    the slab) against a reference in a z box of 8 x its thickness at PME tolerance 1e-6, in a
    z box of the rule's (md_box_a) and the former 4 x the lattice slab, at PME tolerance 5e-4
    (the default) and 1e-6, and at 1e-3."""
    import openmm as mm

    from iceafm.md.simulate import effective_cutoff_a
    from iceafm.md.tip4p_ice import build_system

    n_water = len(frame) // 3
    z = frame.positions[:, 2]
    free = np.repeat(~fixed, 3)
    lattice = float(np.ptp(slab.positions[:, 2]))

    def forces(box_z: float, tolerance: float) -> np.ndarray:
        box = np.array([*slab.cell.lengths()[:2], box_z])
        system = build_system(n_water, box, fixed, effective_cutoff_a(box, 9.0),
                              ewald_tolerance=tolerance)  # fmt: skip
        context = mm.Context(system, mm.VerletIntegrator(0.001), *choose_platform("CPU", 1))
        positions = np.zeros((system.getNumParticles(), 3))
        positions[: 3 * n_water] = (frame.positions + [0, 0, box_z / 2 - (z.max() + z.min()) / 2])
        context.setPositions(positions * 0.1)
        context.computeVirtualSites()
        state = context.getState(getForces=True)
        return state.getForces(asNumpy=True).value_in_unit(
            mm.unit.kilojoule_per_mole / mm.unit.nanometer)[: 3 * n_water][free]  # fmt: skip

    reference = forces(8 * float(np.ptp(z)), 1e-6)
    rms = float(np.sqrt((reference**2).sum(axis=1).mean()))
    rule = float(md_box_a(slab, 9.0)[0][2])
    cases = {"rule_box_tol_5e-4": (rule, 5e-4), "rule_box_tol_1e-6": (rule, 1e-6),
             "former_4x_box_tol_5e-4": (4 * lattice, 5e-4), "rule_box_tol_1e-3": (rule, 1e-3)}
    return {
        **{name: float(f"{np.sqrt(((forces(*c) - reference) ** 2).sum(1).mean()) / rms:.2e}")
           for name, c in cases.items()},
        "rule_box_z_a": round(rule, 2), "premelted_thickness_a": round(float(np.ptp(z)), 2),
        "what": "relative RMS force error on the free atoms of the last 266 K frame against a "
        "z box of 8 x its thickness at PME tolerance 1e-6 (slab correction in every case)",
    }  # fmt: skip


def speed_record(times: dict, gpu_device: str | None = None) -> dict:
    """The speed keys of the JSON from :func:`interleaved_speeds`' per-round times.

    Without a GPU, ``openmm_ns_per_day`` and ``ase_tip4p_ns_per_day`` are per-core speeds (CPU
    seconds). With ``openmm_gpu_wall`` in ``times`` (``gpu_device``: its name) they are OpenMM
    on the GPU against ASE on one core, both by wall clock, as rule md runs on a GPU node; the
    per-core CPU comparison of the same rounds is kept under ``cpu_platform``.
    """

    def spread(ratios: np.ndarray) -> dict:
        return {
            "median": round(float(np.median(ratios)), 1),
            "quartiles": [round(float(x), 1) for x in np.quantile(ratios, [0.25, 0.75])],
            "range": [round(float(ratios.min()), 1), round(float(ratios.max()), 1)],
        }

    med = {k: float(np.median(v)) for k, v in times.items()}
    cpu = {
        "openmm_ns_per_day": round(ns_per_day(med["openmm_cpu"]), 3),
        "ase_tip4p_ns_per_day": round(ns_per_day(med["ase_cpu"]), 5),
        "ratio_openmm_over_ase": round(med["ase_cpu"] / med["openmm_cpu"], 1),
        "ratio_per_pair": spread(times["ase_cpu"] / times["openmm_cpu"]),
        "ratio_of_minima": round(float(times["ase_cpu"].min() / times["openmm_cpu"].min()), 1),
        "ratio_wall_1_thread": round(med["ase_wall"] / med["openmm_wall"], 1),
        "ratio_wall_1_thread_per_pair": spread(times["ase_wall"] / times["openmm_wall"]),
        "node": {
            "openmm_ns_per_day": round(ns_per_day(med["openmm_node_wall"]), 3),
            "ase_tip4p_ns_per_day": round(ns_per_day(med["ase_wall"]), 5),
            "ratio_openmm_over_ase": round(med["ase_wall"] / med["openmm_node_wall"], 1),
            "ratio_per_pair": spread(times["ase_wall"] / times["openmm_node_wall"]),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "what": "wall time, each engine as it runs on a CPU node: OpenMM CPU platform "
            "with 2 threads (rule md's default), ASE (numpy, one thread); meaningful only on an "
            "otherwise idle node (load_average_1min well under 1)",
        },
        "speed_method": f"{len(times['ase_cpu'])} interleaved rounds [OpenMM 1 thread "
        f"{OPENMM_STEPS} steps, ASE {ASE_STEPS} steps, OpenMM 2 threads {OPENMM_STEPS} steps], "
        "order reversed every other round, setup and warm-up excluded; openmm_ns_per_day and "
        "ase_tip4p_ns_per_day: per-core speed from the median CPU seconds (time.process_time "
        "of the process, every thread) per step, OpenMM CPU platform with 1 thread; "
        "ratio_openmm_over_ase = ratio of those medians, ratio_per_pair = quantiles of the "
        "per-round ratios; ratio_wall_1_thread: the same from wall time",
    }
    if "openmm_gpu_wall" not in times:
        return cpu
    gpu = times["openmm_gpu_wall"]
    return {
        "openmm_ns_per_day": round(ns_per_day(med["openmm_gpu_wall"]), 1),
        "ase_tip4p_ns_per_day": round(ns_per_day(med["ase_wall"]), 5),
        "ratio_openmm_over_ase": round(med["ase_wall"] / med["openmm_gpu_wall"], 1),
        "ratio_per_pair": spread(times["ase_wall"] / gpu),
        "ratio_of_minima": round(float(times["ase_wall"].min() / gpu.min()), 1),
        "openmm_device": gpu_device,
        "speed_method": f"{len(gpu)} interleaved rounds [OpenMM CPU 1 thread {OPENMM_STEPS} "
        f"steps, ASE {ASE_STEPS} steps, OpenMM CPU 2 threads {OPENMM_STEPS} steps, OpenMM on "
        f"the GPU {OPENMM_GPU_STEPS} steps], order reversed every other round, setup and "
        "warm-up excluded; openmm_ns_per_day: OpenMM on the GPU, ase_tip4p_ns_per_day: ASE on "
        "one core, both from the median wall seconds per step (the GPU's steps end with a "
        "synchronising getState); ratio_openmm_over_ase = ratio of those medians; "
        "cpu_platform: the per-core CPU comparison from the same rounds",
        "cpu_platform": cpu,
    }


def measured_speed(slab, fixed, pairs: int, gpu: str | None) -> dict:
    """The speed record (:func:`speed_record`, :func:`step_profile`) timed on this machine,
    with the machine and the device it ran on."""
    device = None
    if gpu:
        platform, _ = choose_platform(gpu, 1)
        device = f"{platform.getName()} platform"
        try:  # the GPU's own name, where the machine has the NVIDIA tools
            device = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                    capture_output=True, text=True, check=True
                                    ).stdout.strip() + f" ({device})"  # fmt: skip
        except (OSError, subprocess.CalledProcessError):
            pass
    speed = speed_record(interleaved_speeds(slab, fixed, pairs, gpu), device)
    print(f"OpenMM {speed['openmm_ns_per_day']:.2f} ns/day, ASE "
          f"{speed['ase_tip4p_ns_per_day']:.4f} ns/day: ratio {speed['ratio_openmm_over_ase']} "
          f"{speed['ratio_per_pair']}", flush=True)  # fmt: skip
    speed["openmm_step_profile"] = step_profile(slab, fixed)
    print(f"OpenMM step profile: {speed['openmm_step_profile']}", flush=True)
    speed["speed_machine"] = machine_info(("openmm", "ase"))
    speed["device"] = device or (f"CPU ({choose_platform('CPU', 1)[0].getName()} platform, "
                                 f"1 thread): {speed['speed_machine']['machine']['cpu']}")
    return speed


def checkpoint_path(temperature_k: float, run: int) -> Path:
    """Checkpoint of trajectory ``run`` (1, 2, ...) at ``temperature_k``; run 1 keeps the name
    it had when there was one trajectory per temperature."""
    suffix = "" if run == 1 else f"-run{run}"
    return WORK / f"premelt-{temperature_k:.0f}K{suffix}.npz"


def md_seed(run: int) -> int:
    """Velocity and Langevin-noise seed of trajectory ``run`` (run 1: 7, as before)."""
    return 6 + run


def settings_for(temperature_k: float, length_ps: float, frame_ps: float) -> MDSettings:
    """The benchmark trajectories' settings (production only: the start is dropped later)."""
    return MDSettings(
        temperature_k, equilibration_ps=0.0, production_ps=length_ps, frame_spacing_ps=frame_ps,
        timestep_fs=TIMESTEP_FS,
    )  # fmt: skip


def trajectory_digest(slab, fixed, temperature_k: float, frame_ps: float, run: int) -> str:
    """The checkpoint digest of trajectory ``run`` at ``temperature_k`` (its settings and seed;
    the length does not enter it)."""
    return run_digest(slab, fixed, settings_for(temperature_k, 0.0, frame_ps), md_seed(run))


def cached_ps(slab, fixed, temperature_k: float, frame_ps: float, run: int) -> float:
    """Length (ps) of trajectory ``run`` at ``temperature_k`` in its checkpoint (0 if none or
    from other settings): what the analysis can read without running MD."""
    path = checkpoint_path(temperature_k, run)
    if not path.exists():
        return 0.0
    digest = trajectory_digest(slab, fixed, temperature_k, frame_ps, run)
    with np.load(path) as data:
        return len(data["frames"]) * frame_ps if str(data["digest"]) == digest else 0.0


def checkpoint_box_z_a(temperature_k: float, run: int) -> float:
    """z length (A) of the MD box that trajectory ``run`` at ``temperature_k`` runs in."""
    import openmm as mm

    with np.load(checkpoint_path(temperature_k, run)) as data:
        state = mm.XmlSerializer.deserialize(str(data["state_xml"]))
    return float(state.getPeriodicBoxVectors()[2][2].value_in_unit(mm.unit.angstrom))


def full_block_means(values: np.ndarray, block: int) -> np.ndarray:
    """Means of the whole consecutive blocks of ``block`` values (a partial last one dropped)."""
    n = len(values) // block
    return np.asarray(values[: n * block], float).reshape(n, block).mean(axis=1)


def trajectory(slab, fixed, temperature_k: float, length_ps: float, frame_ps: float,
               run: int = 1, platform: str = "CPU"):  # fmt: skip
    """Frames every ``frame_ps`` of the first ``length_ps`` of trajectory ``run`` at
    ``temperature_k`` (grown from, or cut from, its checkpoint). The
    trajectories of one temperature start from the same slab with different seeds
    (:func:`md_seed`): independent velocities and noise. The OpenMM ``platform`` (the CPU
    with 1 thread, or a GPU's) does not enter the checkpoint's digest: a trajectory grown on
    the CPU continues on a GPU and back."""
    settings = settings_for(temperature_k, length_ps, frame_ps)
    every_ps = 20.0 if platform == "CPU" else 100.0  # a GPU makes 20 ps in about a second
    return run_trajectory(
        slab, fixed, settings, md_seed(run), checkpoint_path(temperature_k, run), every_ps,
        platform, 1,
        log=lambda line: print(f"  {temperature_k:.0f} K run {run} {line}", flush=True),
    )  # fmt: skip


def grow(slab, fixed, temperatures, runs, length_ps: float, chunk_ps: float,
         frame_ps: float, platform: str = "CPU") -> None:  # fmt: skip
    """Run trajectories ``runs`` at each of ``temperatures`` to ``length_ps`` in rounds of
    ``chunk_ps`` (round robin), so that a run stopped early leaves them about equally long."""
    for target in [*np.arange(chunk_ps, length_ps, chunk_ps), length_ps]:  # a short run too
        for temperature in temperatures:
            for run in runs:
                trajectory(slab, fixed, temperature, min(float(target), length_ps), frame_ps, run,
                           platform)  # fmt: skip
        print(f"round to {target:.0f} ps done", flush=True)


def grow_parallel(slab, fixed, temperatures, runs, length_ps: float, frame_ps: float,
                  platform: str, budget_s: float) -> None:  # fmt: skip
    """Grow every trajectory ``runs`` x ``temperatures`` at once, one process each (its own
    OpenMM context; on a GPU they share the device), towards ``length_ps`` for at most
    ``budget_s`` wall seconds: then the processes are stopped, and each keeps what its last
    checkpoint holds (written atomically every 100 ps on a GPU, 20 ps on the CPU), as after
    any kill."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")  # no CUDA state inherited through fork
    jobs = [spawn.Process(target=trajectory,
                          args=(slab, fixed, t, length_ps, frame_ps, run, platform))
            for t in temperatures for run in runs]  # fmt: skip
    for job in jobs:
        job.start()
    stop = time.monotonic() + budget_s
    for job in jobs:
        job.join(max(0.0, stop - time.monotonic()))
    for job in jobs:
        if job.is_alive():
            job.terminate()
        job.join()
    print(f"{sum(job.exitcode == 0 for job in jobs)} of {len(jobs)} trajectories reached "
          f"{length_ps:.0f} ps; the others stopped after {budget_s:.0f} s", flush=True)


def export_frames(slab, fixed, temperatures, runs, frame_ps: float, equilibration_ps: float,
                  path: Path = FRAMES, grown_on: str | None = None) -> None:  # fmt: skip
    """Write every EXPORT_EVERY-th frame after ``equilibration_ps`` of each trajectory
    ``runs`` x ``temperatures`` grown here (read from its checkpoint, nothing run) to ``path``
    (compressed npz): ``positions`` [n_frames, n_atoms, 3] A float32 (molecules whole, O inside
    the slab's lateral cell), per frame ``temperature_k``, ``run`` and ``time_ps`` (from the
    start of the trajectory), ``symbols``, ``cell`` [3, 3] A (the slab's), ``fixed_water``
    [n_water], and ``meta`` (JSON: settings, each trajectory's length, seed and digest, the
    machine that exported them, ``grown_on``: the device that grew them)."""
    first = int(round(equilibration_ps / frame_ps))
    positions, temperature, run_of, time_ps, kept = [], [], [], [], []
    for temperature_k in temperatures:
        for run in runs:
            length = cached_ps(slab, fixed, temperature_k, frame_ps, run)
            if length <= equilibration_ps:
                print(f"{temperature_k:.0f} K run {run}: {length:.0f} ps, not exported")
                continue
            frames = trajectory(slab, fixed, temperature_k, length, frame_ps, run)
            frames = frames[first::EXPORT_EVERY]
            positions += [frame.positions.astype(np.float32) for frame in frames]
            temperature += [temperature_k] * len(frames)
            run_of += [run] * len(frames)
            time_ps += [frame.info["time_ps"] for frame in frames]
            digest = trajectory_digest(slab, fixed, temperature_k, frame_ps, run)
            kept.append({"temperature_k": temperature_k, "run": run, "length_ps": length,
                         "seed": md_seed(run), "frames": len(frames), "digest": digest})
    meta = {**machine_info(("openmm",)), "frame_ps": frame_ps * EXPORT_EVERY,
            "equilibration_dropped_ps": equilibration_ps, "timestep_fs": TIMESTEP_FS,
            "slab": {"supercell": list(SUPERCELL), "bilayers": BILAYERS,
                     "fixed_bilayers": FIXED_BILAYERS, "genice_seed": 11},
            "grown_on": grown_on, "trajectories": kept}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(
            handle, positions=np.array(positions), temperature_k=np.array(temperature),
            run=np.array(run_of), time_ps=np.array(time_ps),
            symbols=np.array(slab.get_chemical_symbols()), cell=np.array(slab.cell[:]),
            fixed_water=np.asarray(fixed), meta=np.array(json.dumps(meta)),
        )  # fmt: skip
    print(f"{path}: {len(positions)} frames of {len(kept)} trajectories", flush=True)


def bulk_run(temperature_k: float, seed: int) -> dict[str, np.ndarray]:
    """Averaged q [n_frames, 128] and O distance to its lattice site (A, after the small drift
    of the whole box is removed) [n_frames, 128] of bulk ice Ih at ``temperature_k`` in the
    slab's lateral cell (GenIce3 proton disorder ``seed``, 2 x 2 x 2 cells, 128 molecules, NVT,
    ``BULK_PS`` equilibration and sampling, a frame every ``BULK_FRAME_PS``); cached under
    ``WORK`` (computed once per temperature, seed and settings)."""
    key = json.dumps({"t_k": temperature_k, "seed": seed, "ps": BULK_PS,
                      "frame_ps": BULK_FRAME_PS, "supercell": SUPERCELL, "cells_z": 2})  # fmt: skip
    path = WORK / f"bulk-{temperature_k:.0f}K-seed{seed}.npz"
    if path.exists():
        with np.load(path) as data:
            if str(data["key"]) == key:
                return {"q": data["q"], "dist": data["dist"]}
    bulk = ice_ih_bulk(SUPERCELL, 2, genice_seed=seed)
    frames = sample_bulk(bulk, temperature_k, *BULK_PS, BULK_FRAME_PS, seed=10 + seed)
    sites = bulk.positions[::3]
    q, dist = [], []
    for frame in frames:
        q.append(averaged_order(frame))
        moved = frame.copy()
        moved.positions -= (frame.positions[::3] - sites).mean(axis=0)
        dist.append(site_distance(moved, sites))
    found = {"q": np.array(q), "dist": np.array(dist)}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, key=np.array(key), **found)
    return found


def bulk_cuts(temperature_k: float) -> dict:
    """Liquid cuts from bulk ice Ih at ``temperature_k`` (:func:`bulk_run`, one run per seed
    of ``BULK_SEEDS``, pooled): the ``FALSE_LIQUID_RATE`` quantile of averaged q and the
    1 - ``FALSE_LIQUID_RATE`` quantile of the O distance to its lattice site; ``q_cut_sem``:
    standard error of the q cut from the spread of the runs' own cuts."""
    runs = [bulk_run(temperature_k, seed) for seed in BULK_SEEDS]
    q = np.concatenate([run["q"].ravel() for run in runs])
    per_run = [calibrated_cut(run["q"].ravel(), FALSE_LIQUID_RATE) for run in runs]
    return {
        "q_cut": calibrated_cut(q, FALSE_LIQUID_RATE),
        "q_cut_per_run": per_run,
        "q_cut_sem": float(np.std(per_run, ddof=1) / np.sqrt(len(runs))),
        "site_cut_a": float(np.quantile(np.concatenate([run["dist"].ravel() for run in runs]),
                                        1 - FALSE_LIQUID_RATE)),
        "bulk_q_median": float(np.median(q)),
    }  # fmt: skip


def analyse(frames, slab, bilayer, first: int, cuts: dict) -> dict:
    """Per-frame QLL thickness (bilayers) of the free molecules by three criteria, and the
    per-bilayer profile averaged over the frames from index ``first`` on.

    - ``q``: neighbour-averaged tetrahedral q below the bulk-calibrated ``cuts["q_cut"]``;
    - ``q_fixed_cut``: q below iceafm.md.order.Q_LIQUID (the earlier definition);
    - ``site``: O farther than ``cuts["site_cut_a"]`` from every site of the ideal lattice (the
      slab's sites and one more bilayer on top): independent of coordination, which lowers q
      at the surface.
    """
    sites = slab.positions[::3]
    sites = np.vstack([sites, sites[bilayer == BILAYERS - 2] + [0.0, 0.0, 2 * BILAYER_A]])
    q = np.array([averaged_order(f) for f in frames])  # [n_frames, n_water]
    layer = np.array([bilayer_index(f, BILAYERS)[0] for f in frames])
    dist = np.array([site_distance(f, sites) for f in frames])
    free = bilayer >= FIXED_BILAYERS
    per_bilayer = int((bilayer == 0).sum())
    liquid = q < cuts["q_cut"]
    kept_layer = layer[first:].ravel()
    count = np.bincount(kept_layer, minlength=BILAYERS)
    return {
        "q": (liquid & free).sum(axis=1) / per_bilayer,
        "q_cut_band": [
            ((q < cuts["q_cut"] + sign * cuts["q_cut_sem"]) & free).sum(axis=1) / per_bilayer
            for sign in (-1, 1)
        ],
        "q_fixed_cut": ((q < Q_LIQUID) & free).sum(axis=1) / per_bilayer,
        "site": ((dist > cuts["site_cut_a"]) & free).sum(axis=1) / per_bilayer,
        "q_mean": np.bincount(kept_layer, q[first:].ravel(), BILAYERS) / count,
        "liquid_fraction": np.bincount(kept_layer, liquid[first:].ravel(), BILAYERS) / count,
        "count": count / (len(frames) - first),
        "z_a": bilayer_index(frames[-1], BILAYERS)[1] + BILAYER_A * np.arange(BILAYERS),
    }


def pooled(runs: list[dict], key, first: int, block: int) -> tuple[float, float, int]:
    """Mean over every trajectory's frames from index ``first`` on of the per-frame series
    ``key`` (a name in analyse's result, or a function of it), its standard error from the
    means of whole blocks of ``block`` frames pooled across the trajectories (independent
    trajectories give independent blocks), and the number of blocks."""
    series = [key(r["found"]) if callable(key) else r["found"][key] for r in runs]
    kept = np.concatenate([x[first:] for x in series])
    blocks = np.concatenate([full_block_means(x[first:], block) for x in series])
    return float(kept.mean()), float(blocks.std(ddof=1) / np.sqrt(len(blocks))), len(blocks)


def pooled_profile(runs: list[dict], first: int, qll: float) -> OrderProfile:
    """Per-bilayer mean q, liquid fraction and count over the kept frames of all ``runs``,
    weighted by their frames and molecules (the bilayer heights of the first run)."""
    frames = np.array([len(r["times"]) - first for r in runs], float)
    molecules = np.array([r["found"]["count"] for r in runs]) * frames[:, None]
    return OrderProfile(
        z_a=runs[0]["found"]["z_a"],
        q_mean=(np.array([r["found"]["q_mean"] for r in runs]) * molecules).sum(0)
        / molecules.sum(0),
        liquid_fraction=(np.array([r["found"]["liquid_fraction"] for r in runs]) * molecules
                         ).sum(0) / molecules.sum(0),
        count=molecules.sum(0) / frames.sum(),
        qll_bilayers=qll,
    )  # fmt: skip


def temperature_record(temperature: float, undercooling: float, cuts: dict, runs: list[dict],
                       first: int, frame_ps: float) -> dict:  # fmt: skip
    """The JSON entry of one temperature from its trajectories ``runs`` (analysed frames)."""
    block = int(round(BLOCK_PS / frame_ps))
    stats = {k: pooled(runs, k, first, block) for k in CRITERIA}
    qll, sem, n_blocks = stats["q"]
    profile = pooled_profile(runs, first, qll)
    per_run = [float(r["found"]["q"][first:].mean()) for r in runs]
    return {
        "temperature_k": temperature,
        "below_tm_k": undercooling,
        "qll_bilayers": round(qll, 3),
        "qll_bilayers_sem": round(sem, 3),
        "trajectories": len(runs),
        "error_blocks": n_blocks,
        "qll_bilayers_per_trajectory": [round(x, 3) for x in per_run],
        "trajectory_lengths_ps": [r["length_ps"] for r in runs],
        "trajectory_seeds": [md_seed(r["run"]) for r in runs],
        "qll_bilayers_mean_of_trajectories": round(float(np.mean(per_run)), 3),
        "qll_bilayers_sem_by_block_ps": {
            f"{b:.0f}": round(pooled(runs, "q", first, int(round(b / frame_ps)))[1], 3)
            for b in BLOCKS_CHECKED_PS
        },
        "q_cut": round(cuts["q_cut"], 4),
        "q_cut_sem": round(cuts["q_cut_sem"], 4),
        "q_cut_per_run": [round(x, 4) for x in cuts["q_cut_per_run"]],
        "qll_bilayers_at_q_cut_pm_sem": [
            round(pooled(runs, lambda f, k=k: f["q_cut_band"][k], first, block)[0], 3)
            for k in (0, 1)
        ],
        "bulk_q_median": round(cuts["bulk_q_median"], 4),
        "qll_bilayers_q_fixed_cut": round(stats["q_fixed_cut"][0], 3),
        "qll_bilayers_q_fixed_cut_sem": round(stats["q_fixed_cut"][1], 3),
        "qll_bilayers_site": round(stats["site"][0], 3),
        "qll_bilayers_site_sem": round(stats["site"][1], 3),
        "site_cut_a": round(cuts["site_cut_a"], 3),
        "frames_averaged": int(sum(len(r["times"]) - first for r in runs)),
        "qll_bilayers_by_drop_ps": {
            f"{drop:.0f}": round(float(np.concatenate(
                [r["found"]["q"][int(round(drop / frame_ps)):] for r in runs]).mean()), 3)
            for drop in DROPS_CHECKED_PS
        },
        "qll_bilayers_per_100ps_by_trajectory": {
            str(r["run"]): [round(float(x), 3)
                            for x in block_means(r["found"]["q"], r["times"], 100.0)]
            for r in runs
        },  # fmt: skip
        "q_mean_per_bilayer": [round(float(x), 3) for x in profile.q_mean],
        "liquid_fraction_per_bilayer": [round(float(x), 3) for x in profile.liquid_fraction],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length-ps", type=float, default=1000.0)
    parser.add_argument("--equilibration-ps", type=float, default=300.0,
                        help="dropped from each trajectory's start (the QLL rises over its "
                        "first 100-150 ps)")
    parser.add_argument("--frame-ps", type=float, default=5.0)
    parser.add_argument("--grow-only", action="store_true",
                        help="only run the trajectories (resumable), in rounds of --chunk-ps")
    parser.add_argument("--chunk-ps", type=float, default=100.0)
    parser.add_argument("--runs", type=int, nargs="+", default=[1],
                        help="trajectories per temperature to grow (--grow-only; 1 is the "
                        "first, seeded as before) or to analyse (all of them)")
    parser.add_argument("--temperatures", type=float, nargs="+", default=None,
                        help="--grow-only: only these temperatures (K; default all three)")
    parser.add_argument("--speed-pairs", type=int, default=30,
                        help="interleaved timing rounds of the engines")
    parser.add_argument("--speed-only", action="store_true", help="only time the engines")
    parser.add_argument("--platform", default="CPU", choices=list(PLATFORMS),
                        help="--grow-only: OpenMM platform of the trajectories (CPU: 1 thread)")
    parser.add_argument("--parallel", action="store_true",
                        help="--grow-only: every trajectory at once, one process each")
    parser.add_argument("--budget-s", type=float, default=float("inf"),
                        help="--grow-only --parallel: stop the trajectories after this many "
                        "wall seconds (each keeps its last checkpoint)")
    parser.add_argument("--speed-gpu", default=None,
                        help="also time OpenMM on this GPU platform (e.g. CUDA) against ASE")
    parser.add_argument("--speed-out", type=Path, default=None,
                        help="--speed-only: write the speed record (JSON) here")
    parser.add_argument("--speed-from", type=Path, default=None,
                        help="take the speed record from this --speed-out file (a GPU node's "
                        "run) instead of timing here")
    parser.add_argument("--export-frames", type=Path, nargs="?", const=FRAMES, default=None,
                        help=f"only write the grown trajectories' frames (every {EXPORT_EVERY}th "
                        "after --equilibration-ps) to this npz (default: the tracked "
                        f"{FRAMES.relative_to(FRAMES.parents[2])})")
    parser.add_argument("--grown-on", default=None,
                        help="--export-frames: the device that grew the trajectories (recorded)")
    parser.add_argument("--calibrate-only", action="store_true",
                        help="only run (and cache) the bulk ice references of the liquid cut")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    slab, bilayer = basal_slab(SUPERCELL, BILAYERS, 10.0, genice_seed=11)
    fixed = bilayer < FIXED_BILAYERS
    n_water = len(slab) // 3
    temperatures = [MELTING_POINT_K - u for u in UNDERCOOLINGS_K]
    if args.grow_only:
        if args.parallel:
            grow_parallel(slab, fixed, args.temperatures or temperatures, args.runs,
                          args.length_ps, args.frame_ps, args.platform, args.budget_s)  # fmt: skip
        else:
            grow(slab, fixed, args.temperatures or temperatures, args.runs, args.length_ps,
                 args.chunk_ps, args.frame_ps, args.platform)  # fmt: skip
        return
    if args.export_frames:
        export_frames(slab, fixed, temperatures, args.runs, args.frame_ps,
                      args.equilibration_ps, args.export_frames, args.grown_on)  # fmt: skip
        return
    if args.calibrate_only:
        for temperature in temperatures:
            cuts = bulk_cuts(temperature)
            print(f"{temperature:.0f} K: q_cut {cuts['q_cut']:.4f} +- {cuts['q_cut_sem']:.4f} "
                  f"{np.round(cuts['q_cut_per_run'], 4)}, site cut {cuts['site_cut_a']:.3f} A",
                  flush=True)  # fmt: skip
        return

    if args.speed_from:
        speed = json.loads(args.speed_from.read_text())
        speed["speed_from"] = f"{args.speed_from.name}, timed on {speed['device']}"
    else:
        speed = measured_speed(slab, fixed, args.speed_pairs, args.speed_gpu)
    if "cpu_platform" in speed:
        speed["cpu_platform"]["note"] = CPU_TIME_NOTE
    if args.speed_only:
        print(json.dumps(speed, indent=1))
        if args.speed_out:
            write_json_atomic(args.speed_out, speed)
        return

    results, profiles_mean, series, last, last_ps = {}, {}, {}, {}, {}
    first = int(round(args.equilibration_ps / args.frame_ps))  # frames before it are dropped
    for undercooling in UNDERCOOLINGS_K:
        temperature = MELTING_POINT_K - undercooling
        cuts = bulk_cuts(temperature)
        runs = []
        for run in args.runs:
            # each run read as far as --grow-only has grown it, up to --length-ps
            length = min(args.length_ps, cached_ps(slab, fixed, temperature, args.frame_ps, run))
            if length < args.equilibration_ps + BLOCK_PS:
                print(f"{temperature:.0f} K run {run}: {length:.0f} ps, too short: left out "
                      "(grow it first with --grow-only)")
                continue
            frames = trajectory(slab, fixed, temperature, length, args.frame_ps, run)
            runs.append({"run": run, "length_ps": length, "last": frames[-1],
                         "times": np.array([f.info["time_ps"] for f in frames]),
                         "found": analyse(frames, slab, bilayer, first, cuts)})  # fmt: skip
        results[f"{temperature:.0f}"] = temperature_record(
            temperature, undercooling, cuts, runs, first, args.frame_ps
        )
        stats = results[f"{temperature:.0f}"]
        profiles_mean[temperature] = pooled_profile(runs, first, stats["qll_bilayers"])
        series[temperature] = [(r["times"], r["found"]["q"]) for r in runs]
        last[temperature] = runs[0]["last"]
        last_ps[temperature] = runs[0]["length_ps"]
        print(f"{temperature:.0f} K: QLL {stats['qll_bilayers']:.3f} +- "
              f"{stats['qll_bilayers_sem']:.3f} bilayers over {len(runs)} trajectories "
              f"{stats['qll_bilayers_per_trajectory']} (q < {cuts['q_cut']:.3f}); fixed cut "
              f"{stats['qll_bilayers_q_fixed_cut']:.3f}, site {stats['qll_bilayers_site']:.3f}",
              flush=True)  # fmt: skip

    warmest = max(last)
    longest = max(max(r["trajectory_lengths_ps"]) for r in results.values())
    plot_premelt(
        profiles_mean, last[warmest], f"{warmest:.0f} K after {last_ps[warmest]:.0f} ps (x-z)",
        RESULTS / "premelt_md.png", series=series, equilibration_ps=args.equilibration_ps,
        q_cuts={t: results[f"{t:.0f}"]["q_cut"] for t in profiles_mean},
    )  # fmt: skip
    qll_values = [results[k]["qll_bilayers"] for k in sorted(results)]
    box, _ = md_box_a(slab, 9.0)
    speed["pme_box_accuracy"] = box_accuracy(slab, fixed, last[warmest])
    record = {
        **machine_info(("openmm", "ase", "genice3")),
        "molecules": n_water,
        "slab": {
            "supercell": list(SUPERCELL), "bilayers": BILAYERS, "fixed_bilayers": FIXED_BILAYERS,
            "md_box_a": [round(float(x), 2) for x in box], "timestep_fs": TIMESTEP_FS,
            "md_box_z_a_of_qll_trajectories": sorted({
                round(checkpoint_box_z_a(MELTING_POINT_K - u, run), 2)
                for u in UNDERCOOLINGS_K for run in args.runs
                if cached_ps(slab, fixed, MELTING_POINT_K - u, args.frame_ps, run)}),
        },  # fmt: skip
        **speed,
        "goal_ratio": 50,
        "melting_point_k": MELTING_POINT_K,
        "qll_bilayers": results,
        "qll_thickens_towards_tm": bool(np.all(np.diff(qll_values) > 0)),
        "qll_thickening_beyond_2_sem": [
            bool(results[b]["qll_bilayers"] - results[a]["qll_bilayers"]
                 > 2 * np.hypot(results[a]["qll_bilayers_sem"], results[b]["qll_bilayers_sem"]))
            for a, b in zip(sorted(results), sorted(results)[1:], strict=False)
        ],  # fmt: skip
        "qll_thickens_by_criterion": {
            key: bool(np.all(np.diff([results[t][key] for t in sorted(results)]) > 0))
            for key in ("qll_bilayers", "qll_bilayers_q_fixed_cut", "qll_bilayers_site")
        },
        "qll_definition": QLL_DEFINITION,
        "md_per_temperature_ps": {
            "length": args.length_ps, "equilibration_dropped": args.equilibration_ps,
            "frame_spacing": args.frame_ps, "error_block": BLOCK_PS,
            "trajectories_per_temperature": {k: v["trajectories"] for k, v in results.items()},
        },  # fmt: skip
        "references": REFERENCES,
        "caveat": f"up to {longest / 1000:.1f} ns per trajectory (trajectory_lengths_ps per "
        "temperature; 6-bilayer slab with one free surface): the QLL of the first nanoseconds, "
        "not the equilibrium thickness, which takes tens to hundreds of ns near Tm (Baran et "
        "al. 2024)",
        "figure": "benchmarks/results/premelt_md.png",
    }
    path = write_result("premelt_md", record)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
