# Paper figures: one rule per figure (.pdf + .png, both in the report), assembled from the stages'
# figures and data by workflow/scripts/paper_figure.py. The params are only the figure's style
# (config section figures.<figure>), so a style edit reruns that figure and nothing else.
# Inputs and targets: common.smk (paper figures section).


rule figure_structures_afm:
    input:
        structures="results/figures/structures.png",
        premelt=premelt_profile_structures(),
        afm_stack="results/figures/afm_stack.png",
    output:
        **paper_figure_outputs("structures_afm", "1: structures and AFM stacks"),
    params:
        style=lookup(dpath="figures/structures_afm", within=config),
    log:
        "logs/figures/structures_afm.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/paper_figure.py"


rule figure_electrostatics:
    input:
        electrostatics="results/figures/afm_electrostatics.png",
        dft="results/figures/dft.png",
    output:
        **paper_figure_outputs("electrostatics", "2: Hartree vs point charges"),
    params:
        style=lookup(dpath="figures/electrostatics", within=config),
    log:
        "logs/figures/electrostatics.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/paper_figure.py"


rule figure_detector:
    input:
        evaluation=f"results/models/{config['train']['name']}/evaluation.png",
        metrics=f"results/models/{config['train']['name']}/metrics.json",
    output:
        **paper_figure_outputs("detector", "3: structure from AFM"),
    params:
        style=lookup(dpath="figures/detector", within=config),
    log:
        "logs/figures/detector.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/paper_figure.py"


rule figure_adaptation:
    input:
        adapt="results/adapt/comparison.png",
    output:
        **paper_figure_outputs("adaptation", "4: domain adaptation"),
    params:
        style=lookup(dpath="figures/adaptation", within=config),
    log:
        "logs/figures/adaptation.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/paper_figure.py"


rule figure_diffusion:
    input:
        diffusion="results/diffusion/equivariant/evaluation.png",
    output:
        **paper_figure_outputs("diffusion", "5: diffusion"),
    params:
        style=lookup(dpath="figures/diffusion", within=config),
    log:
        "logs/figures/diffusion.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/paper_figure.py"


rule figure_real_surface:
    input:
        real_prediction="results/predict_real/amorafm_ice_surface.png",
        agreement="results/predict_real/amorafm_agreement.png",
        completed=[
            "results/diffusion/real_surface/amorafm_ice_surface.extxyz",
            "results/diffusion/real_surface/amorafm_ice_surface.json",
        ],
    output:
        **paper_figure_outputs("real_surface", "6: real premelting surface"),
    params:
        style=lookup(dpath="figures/real_surface", within=config),
    log:
        "logs/figures/real_surface.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/paper_figure.py"


# The report's description: workflow/report/workflow.rst with the version, commit, software
# versions and config of this run (iceafm.provenance.report_description).
report: report_description_file()
