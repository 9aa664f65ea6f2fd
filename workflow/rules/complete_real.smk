# Close the loop (issue 10): the detector's top layer of the real premelting surface (rule
# predict_real) completed down to diffusion.data.depth_a by the diffusion model
# (iceafm.diffusion.real_surface). Made when figure 6 is (paper_figure_targets, common.smk);
# its params: complete_real_sample_params (common.smk).


rule diffusion_complete_real:
    input:
        prediction="results/predict_real/amorafm_ice_surface.extxyz",
        checkpoint="results/diffusion/equivariant/checkpoint.pt",
    output:
        slab="results/diffusion/real_surface/amorafm_ice_surface.extxyz",
        summary="results/diffusion/real_surface/amorafm_ice_surface.json",
        png=report(
            "results/diffusion/real_surface/amorafm_ice_surface.png",
            caption="../report/diffusion_complete_real.rst",
            category="6. Diffusion",
        ),
        pdf="results/diffusion/real_surface/amorafm_ice_surface.pdf",
    params:
        sample=complete_real_sample_params(),
    log:
        "logs/diffusion_complete_real/amorafm_ice_surface.log",
    benchmark:
        "logs/diffusion_complete_real/amorafm_ice_surface.bench.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        device=config["diffusion"]["resources"]["device"],
    conda:
        "../../envs/ml.yaml"
    script:
        "../scripts/diffusion_complete_real.py"
