"""Equivariant score-based diffusion: generation validity and statistics, completion of the
subsurface by depth band, against the ice Ih lattice baseline and a same-size non-equivariant
network trained the same way, in the same run.

Data, generated here: proton-disordered ice Ih basal slabs (GenIce3) and premelted slabs (top two
bilayers disordered by TIP4P Langevin MD), 1 x 1 ice1h_unit cells (9.0 x 7.8 A), cropped to the
top ``depth_a``; held-out test slabs come from other seeds (generation and the validation loss:
2 ice + 4 premelted; completion: 4 ice + 20 premelted, the first six included). Both networks
train for the same number of steps on the same batches; sampling uses the EMA weights.

Both networks are sampled the same way: Heun (19 NFE), then the network-free projection onto
rigid TIP4P/Ice waters (``iceafm.diffusion.projection``, ``relax``: H matched to O, Kabsch fit,
restrained rigid-body relaxation); ``validity`` and the other generation metrics are of the
projected samples, ``validity_raw`` and ``raw.*`` of the network's output before it.
Completions start from the lattice prior (SDEdit: the ice Ih lattice continued below the fixed
layer, noised to 0.2 A, denoised from there), 4 draws per problem; ``completion_o_f1_*`` is the
mean F1 over the draws, ``..._best_of_k`` the best draw per problem, ``..._consensus`` the
consensus completion (per-atom mean of the 4 raw draws, projected;
``iceafm.diffusion.tasks.consensus_completion``); ``completion_raw`` is before the projection.

Writes ``benchmarks/results/diffusion.json``. Run: ``OMP_NUM_THREADS=1 .venv/bin/python
benchmarks/diffusion.py`` (about 40 min on a shared 2-core machine; trained checkpoints and data
are kept under benchmarks/work/diffusion, so a rerun resumes). ``--big CHECKPOINT`` (internal)
samples one slab of >= 1,000 atoms in a child process, for its own peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.io import read, write

from iceafm.diffusion.config import diffusion_section
from iceafm.diffusion.data import surface_crop
from iceafm.diffusion.evaluate import completion_metrics, generation_metrics, lattice_metrics
from iceafm.diffusion.metrics import validity_fraction
from iceafm.diffusion.projection import project_waters
from iceafm.diffusion.tasks import (
    completion_problem,
    consensus_completion,
    generation_problem,
    sample_problems,
    solve,
)
from iceafm.diffusion.train import load_checkpoint, resolve_device, train
from iceafm.md.ase_tip4p import ase_premelt as generate_premelt
from iceafm.structures.ice_basal import basal_slab

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result  # noqa: E402

WORK = Path(__file__).resolve().parent / "work" / "diffusion"
N_TRAIN = {"ice": 10, "premelt": 14}
N_TEST = {"ice": 2, "premelt": 4}  # generation metrics and the training's validation loss
N_TEST_COMPLETION = {"ice": 4, "premelt": 20}  # completion problems (seeds from 100, as N_TEST)
PREMELT = dict(
    bilayers=4,
    supercell=[1, 1],
    vacuum_a=10.0,
    melt_bilayers=2,
    temperature_k=300.0,
    md_steps=300,
    timestep_fs=1.0,
    friction_per_fs=0.01,
)
SECTION = diffusion_section({"train": {"epochs": 60, "steps_per_epoch": 50}})
SAMPLES_PER_TEMPLATE = 4
STEPS = 10  # Heun: NFE = 2 * steps - 1 = 19
LONG_STEPS = 1000  # Euler-Maruyama: NFE = steps
PROJECTION = {"method": "relax", "relax_steps": 50}  # the sampler's last, network-free step
PRIOR = {"prior": "lattice", "prior_sigma_a": 0.2}  # completion: SDEdit from the lattice


def slabs(kind: str, seeds: range):
    """Cached structures (extxyz under WORK/data)."""
    out = []
    for seed in seeds:
        path = WORK / "data" / f"{kind}-{seed:03d}.extxyz"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "ice":
                atoms = basal_slab((1, 1), 4, 10.0, 1000 + seed)[0]
            else:
                atoms = generate_premelt(PREMELT, np.random.default_rng([2, seed]))
            write(path, atoms, format="extxyz")
        out.append(read(path))
    return out


def datasets():
    """Cropped (training, generation test, completion test) slabs."""
    sets = [], [], []
    for kind in ("ice", "premelt"):
        sets[0].extend(slabs(kind, range(N_TRAIN[kind])))
        sets[1].extend(slabs(kind, range(100, 100 + N_TEST[kind])))
        sets[2].extend(slabs(kind, range(100, 100 + N_TEST_COMPLETION[kind])))
    depth = SECTION["data"]["depth_a"]
    return tuple([surface_crop(a, depth) for a in structures] for structures in sets)


def evaluate_model(ckpt: Path, test_set, completion_set, device) -> dict:
    model, schedule, section = load_checkpoint(ckpt, device)
    data, ev = section["data"], section["evaluate"]
    gen_problems = [
        generation_problem(t, data["depth_a"])
        for t in test_set
        for _ in range(SAMPLES_PER_TEMPLATE)
    ]
    t0 = time.perf_counter()
    raw, nfe = solve(model, schedule, gen_problems, data["depth_a"], STEPS, "heun", 0, device)
    t_net = time.perf_counter() - t0
    generated = [
        project_waters(a, fixed, **PROJECTION)
        for a, (_, fixed) in zip(raw, gen_problems, strict=True)
    ]
    elapsed = time.perf_counter() - t0
    out = generation_metrics(generated, test_set, ev["min_nonbonded_a"])
    raw_metrics = generation_metrics(raw, test_set, ev["min_nonbonded_a"])
    out.update(
        validity_raw=raw_metrics["validity"],
        raw=raw_metrics,
        nfe=nfe,
        samples_per_s=len(generated) / elapsed,
        samples_per_s_raw=len(raw) / t_net,
    )
    comp = [completion_problem(t, data["top_a"], data["depth_a"]) for t in completion_set]
    t0 = time.perf_counter()
    runs = [
        sample_problems(
            model,
            schedule,
            comp,
            data["depth_a"],
            STEPS,
            "heun",
            seed,
            device,
            top_a=data["top_a"],
            **PRIOR,
        )
        for seed in range(SAMPLES_PER_TEMPLATE)
    ]
    out["completion_nfe"] = runs[0][1]["nfe"]
    per_raw = [[run[0][p] for run in runs] for p in range(len(comp))]
    per_problem = [
        [project_waters(a, comp[p][1], **PROJECTION) for a in row] for p, row in enumerate(per_raw)
    ]
    consensus = [
        consensus_completion(row, comp[p], PROJECTION["method"], PROJECTION["relax_steps"])
        for p, row in enumerate(per_raw)
    ]
    out["completion_s"] = time.perf_counter() - t0
    out.update(completion_metrics(per_problem, comp, ev["bands_a"], ev["match_a"], consensus))
    out["completion_raw"] = completion_metrics(per_raw, comp, ev["bands_a"], ev["match_a"])
    out["completion_problems"] = len(comp)
    out["completion_validity"] = validity_fraction(
        [a for row in per_problem for a in row], ev["min_nonbonded_a"]
    )
    out["completion_validity_consensus"] = validity_fraction(consensus, ev["min_nonbonded_a"])
    out["completion_validity_raw"] = validity_fraction(
        [a for row in per_raw for a in row], ev["min_nonbonded_a"]
    )
    return out, generated


def big_sample(ckpt: Path, device) -> None:
    """Sample a slab of >= 1,000 atoms (3 x 3 cells, 5 bilayers, no crop); print JSON."""
    model, schedule, _ = load_checkpoint(ckpt, device)
    template = basal_slab((3, 3), 5, 10.0, 7)[0]
    problem = generation_problem(template, 100.0)
    t0 = time.perf_counter()
    out, nfe = solve(
        model,
        schedule,
        [problem],
        100.0,
        STEPS,
        "heun",
        0,
        device,
        projection=PROJECTION["method"],
        relax_steps=PROJECTION["relax_steps"],
    )
    elapsed = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "atoms": len(out[0]),
                "nfe": nfe,
                "seconds": elapsed,
                "validity": validity_fraction(out),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.big:
        big_sample(Path(args.big), device)
        return
    torch.set_num_threads(1)
    train_set, test_set, completion_set = datasets()
    record = {"device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(0)}
    results = {}
    for kind in ("equivariant", "plain"):
        section = json.loads(json.dumps(SECTION))
        section["model"]["kind"] = kind
        ckpt = WORK / f"{kind}.pt"
        t0 = time.perf_counter()
        history = train(section, train_set, ckpt, str(device), validation=test_set, progress=False)
        results[kind] = {"train_s_this_run": time.perf_counter() - t0, "history": history}
        metrics, generated = evaluate_model(ckpt, test_set, completion_set, device)
        results[kind].update(metrics)
        write(WORK / f"generated-{kind}.extxyz", generated, format="extxyz")
        print(kind, json.dumps({k: v for k, v in metrics.items()}), flush=True)
    eq = results["equivariant"]
    record.update({k: v for k, v in eq.items() if k != "history"})
    record["training"] = {
        k: {
            "parameters": results[k]["history"]["parameters"],
            "steps": SECTION["train"]["epochs"] * SECTION["train"]["steps_per_epoch"],
            "final_val_loss": results[k]["history"]["val_loss"][-1],
            "trivial_val_loss": results[k]["history"]["trivial_val_loss"],
        }
        for k in results
    }
    record["baseline_nonequivariant"] = {
        k: v for k, v in results["plain"].items() if k != "history"
    }
    comp = [
        completion_problem(t, SECTION["data"]["top_a"], SECTION["data"]["depth_a"])
        for t in completion_set
    ]
    record["baseline_lattice"] = lattice_metrics(
        comp,
        SECTION["data"]["top_a"],
        SECTION["data"]["depth_a"],
        SECTION["evaluate"]["bands_a"],
        SECTION["evaluate"]["match_a"],
    )
    # The same model with a 1000-evaluation sampler (Euler-Maruyama, 1000 steps).
    model, schedule, section = load_checkpoint(WORK / "equivariant.pt", device)
    problems = [generation_problem(t, section["data"]["depth_a"]) for t in test_set]
    long_samples, long_nfe = solve(
        model,
        schedule,
        problems,
        section["data"]["depth_a"],
        LONG_STEPS,
        "euler_maruyama",
        1,
        device,
    )
    min_nb = section["evaluate"]["min_nonbonded_a"]
    record["validity_at_1000_nfe_raw"] = validity_fraction(long_samples, min_nb)
    record["validity_at_1000_nfe"] = validity_fraction(
        [
            project_waters(a, fixed, **PROJECTION)
            for a, (_, fixed) in zip(long_samples, problems, strict=True)
        ],
        min_nb,
    )
    record["nfe_long_sampler"] = long_nfe
    big = subprocess.run(
        [sys.executable, __file__, "--big", str(WORK / "equivariant.pt"), "--device", args.device],
        check=True,
        capture_output=True,
        text=True,
    )
    big_rec = json.loads(big.stdout.strip().splitlines()[-1])
    record["samples_per_s_1000_atoms"] = 1.0 / big_rec["seconds"]
    record["peak_rss_mb_1000_atoms"] = big_rec["peak_rss_mb"]
    record["atoms_big_sample"] = big_rec["atoms"]
    record["validity_big_sample"] = big_rec["validity"]
    record["setup"] = {
        "train_structures": N_TRAIN,
        "test_structures": N_TEST,
        "test_structures_completion": N_TEST_COMPLETION,
        "premelt": PREMELT,
        "sampler": "heun",
        "steps": STEPS,
        "projection": PROJECTION,
        "completion_prior": PRIOR,
        "completion_o_f1": "completion_o_f1_*: mean over the samples_per_template draws of the "
        "F1 over all problems; _best_of_k: per problem the draw with most true positives; "
        "_consensus: the per-atom mean of the raw draws, projected (one structure per problem)",
        "validity": "with the projection (iceafm.diffusion.projection), the sampler's last "
        "step; validity_raw and raw.*: the network's output before it",
        "samples_per_template": SAMPLES_PER_TEMPLATE,
        "diffusion": SECTION,
    }
    record.update(machine_info(("torch", "e3nn", "vesin", "ema-pytorch")))
    print(write_result("diffusion", record))


if __name__ == "__main__":
    main()
