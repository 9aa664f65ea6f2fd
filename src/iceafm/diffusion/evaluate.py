"""Metric tables for generated slabs and completions (used by the evaluate rule and the benchmark).

Generation: validity, Wasserstein-1 of the O-O pair-distance (RDF) and nearest-neighbour
distributions against held-out references, H-bond statistics, TIP4P/Ice energy per molecule
(median over structures: one overlapping pair makes a mean meaningless).
Completion: O F1 at ``match_a`` per depth band over the generated (not fixed) region, as the mean
over the k samples of each problem and as the best of k per problem.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.io import read

from iceafm.diffusion.baselines import lattice_for
from iceafm.diffusion.data import load_structures
from iceafm.diffusion.metrics import (
    completion_counts,
    free_oxygens,
    hbond_stats,
    oo_distances,
    oo_nearest,
    tip4p_ice_energy_per_molecule,
    validity_fraction,
    w1,
)
from iceafm.diffusion.tasks import completion_problem
from iceafm.figures.diffusion import plot_diffusion
from iceafm.io.atomic import write_json_atomic
from iceafm.metrics.detection import Counts


def band_key(lo: float, hi: float) -> str:
    """``completion_o_f1_0_4`` for the band [0, 4) A."""
    return f"completion_o_f1_{lo:g}_{hi:g}".replace(".", "p")


def generation_metrics(
    samples: Sequence[Atoms], references: Sequence[Atoms], min_nonbonded_a: float
) -> dict[str, float]:
    """Quality of generated slabs against reference slabs of the same kind."""
    ref_h = hbond_stats(references)
    gen_h = hbond_stats(samples)
    return {
        "validity": validity_fraction(samples, min_nonbonded_a),
        "validity_reference": validity_fraction(references, min_nonbonded_a),
        "w1_oo_rdf": w1(
            np.concatenate([oo_distances(a) for a in samples]),
            np.concatenate([oo_distances(a) for a in references]),
        ),
        "w1_oo_nearest": w1(
            np.concatenate([oo_nearest(a) for a in samples]),
            np.concatenate([oo_nearest(a) for a in references]),
        ),
        "hbonds_per_molecule": gen_h["hbonds_per_molecule"],
        "hbonds_per_molecule_reference": ref_h["hbonds_per_molecule"],
        "ice_rule_fraction": gen_h["ice_rule_fraction"],
        "ice_rule_fraction_reference": ref_h["ice_rule_fraction"],
        "tip4p_ice_ev_per_molecule": float(
            np.nanmedian([tip4p_ice_energy_per_molecule(a) for a in samples])
        ),
        "tip4p_ice_ev_per_molecule_reference": float(
            np.nanmedian([tip4p_ice_energy_per_molecule(a) for a in references])
        ),
    }


def _f1_table(predicted_o: Sequence[np.ndarray], problems, bands_a, match_a) -> list[Counts]:
    counts = [Counts() for _ in bands_a]
    for pred, (atoms, fixed) in zip(predicted_o, problems, strict=True):
        z_top = atoms.positions[np.array(atoms.get_chemical_symbols()) == "O", 2].max()
        per_band = completion_counts(
            pred, free_oxygens(atoms, fixed), z_top, np.asarray(atoms.cell), bands_a, match_a
        )
        for total, c in zip(counts, per_band, strict=True):
            total.add(c.tp, c.fp, c.fn)
    return counts


def completion_metrics(
    samples: Sequence[Sequence[Atoms]],
    problems: Sequence[tuple[Atoms, np.ndarray]],
    bands_a: Sequence[Sequence[float]],
    match_a: float,
    consensus: Sequence[Atoms] | None = None,
) -> dict[str, float]:
    """O F1 per band: ``completion_o_f1_{lo}_{hi}`` (mean over the k samples of the micro-averaged
    F1 over problems), ``..._best_of_k`` (per problem the sample with most true positives) and,
    given one consensus completion per problem
    (:func:`iceafm.diffusion.tasks.consensus_completion`), ``..._consensus``."""
    bands = [tuple(b) for b in bands_a]
    k = len(samples[0])
    out: dict[str, float] = {}
    per_sample = []
    for s in range(k):
        pred = [
            free_oxygens(problem_samples[s], fixed)
            for problem_samples, (_, fixed) in zip(samples, problems, strict=True)
        ]
        per_sample.append([c.scores()["f1"] for c in _f1_table(pred, problems, bands, match_a)])
    best = []
    for problem_samples, problem in zip(samples, problems, strict=True):
        tps = [
            sum(c.tp for c in _f1_table([free_oxygens(a, problem[1])], [problem], bands, match_a))
            for a in problem_samples
        ]
        best.append(free_oxygens(problem_samples[int(np.argmax(tps))], problem[1]))
    best_f1 = [c.scores()["f1"] for c in _f1_table(best, problems, bands, match_a)]
    if consensus is not None:
        pred = [free_oxygens(a, fixed) for a, (_, fixed) in zip(consensus, problems, strict=True)]
        consensus_f1 = [c.scores()["f1"] for c in _f1_table(pred, problems, bands, match_a)]
    for b, (lo, hi) in enumerate(bands):
        out[band_key(lo, hi)] = float(np.mean([row[b] for row in per_sample]))
        out[band_key(lo, hi) + "_best_of_k"] = best_f1[b]
        if consensus is not None:
            out[band_key(lo, hi) + "_consensus"] = consensus_f1[b]
    out["completion_samples_per_problem"] = k
    return out


def lattice_metrics(
    problems: Sequence[tuple[Atoms, np.ndarray]],
    top_a: float,
    depth_a: float,
    bands_a: Sequence[Sequence[float]],
    match_a: float,
) -> dict[str, float]:
    """Completion F1 per band of the ice Ih lattice baseline (deterministic: one prediction)."""
    bands = [tuple(b) for b in bands_a]
    pred = [lattice_for(p, top_a, depth_a) for p in problems]
    return {
        band_key(lo, hi): c.scores()["f1"]
        for (lo, hi), c in zip(bands, _f1_table(pred, problems, bands, match_a), strict=True)
    }


def _group(frames: Sequence[Atoms]) -> tuple[list[list[Atoms]], list[Atoms] | None]:
    """Draws grouped by their ``template`` info, in template order, and the consensus frames
    (``consensus_of`` in info; one per template) in template order, or None where there are none.
    """
    groups: dict[int, list[Atoms]] = {}
    centres: dict[int, Atoms] = {}
    for atoms in frames:
        template = int(atoms.info["template"])
        if "consensus_of" in atoms.info:
            centres[template] = atoms
        else:
            groups.setdefault(template, []).append(atoms)
    return [groups[t] for t in sorted(groups)], [centres[t] for t in sorted(centres)] or None


def run_evaluation(
    reference_paths: list[str],
    sample_files: dict[str, tuple[str, str]],
    data: dict,
    evaluate: dict,
    metrics_path: str,
    figure_paths: Sequence[str],
) -> dict:
    """Rule ``diffusion_evaluate``: metrics of the equivariant model with the plain network and
    the ice lattice under ``baseline_nonequivariant`` and ``baseline_lattice``, and the figure.

    Args:
        sample_files: model ("equivariant", "plain") -> (generated.extxyz, completed.extxyz).
    """
    refs = load_structures(reference_paths, data["families"], data["depth_a"])
    problems = [completion_problem(r, data["top_a"], data["depth_a"]) for r in refs]
    table, generated, completed = {}, {}, {}
    for model, (gen_path, comp_path) in sample_files.items():
        generated[model] = read(gen_path, index=":", format="extxyz")
        completed[model] = read(comp_path, index=":", format="extxyz")
        metrics = generation_metrics(generated[model], refs, evaluate["min_nonbonded_a"])
        metrics["nfe"] = int(generated[model][0].info["nfe"])
        metrics["projection"] = str(generated[model][0].info.get("projection", "none"))
        metrics["completion_prior"] = str(completed[model][0].info.get("prior", "noise"))
        draws, consensus = _group(completed[model])
        metrics.update(
            completion_metrics(draws, problems, evaluate["bands_a"], evaluate["match_a"], consensus)
        )
        table[model] = metrics
    record = dict(table["equivariant"])
    record["baseline_nonequivariant"] = table["plain"]
    try:
        record["baseline_lattice"] = lattice_metrics(
            problems, data["top_a"], data["depth_a"], evaluate["bands_a"], evaluate["match_a"]
        )
    except ValueError as err:  # a cell that is not an ice1h_unit supercell (imports)
        record["baseline_lattice"] = {"unavailable": str(err)}
    record["reference_structures"] = len(refs)
    write_json_atomic(metrics_path, record)
    labels = [f"{lo:g}-{hi:g} A" for lo, hi in evaluate["bands_a"]]
    keys = [band_key(lo, hi) for lo, hi in evaluate["bands_a"]]
    f1 = {m: dict(zip(labels, [table[m][k] for k in keys], strict=True)) for m in table}
    if "unavailable" not in record["baseline_lattice"]:
        f1["lattice"] = dict(
            zip(labels, [record["baseline_lattice"][k] for k in keys], strict=True)
        )
    plot_diffusion(refs, generated, completed["equivariant"], f1, labels, *figure_paths)
    return record
