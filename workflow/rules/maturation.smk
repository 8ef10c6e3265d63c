# Brain-maturation study (Liu et al. 2021; reference maturation.md): six oculomotor tasks,
# checkpoint-based developmental stages, selectivity / PSTH / tuning / delay analyses.

MAT = config["maturation"]
MAT_ACTIVITY = expand("results/maturation/activity/{task}.npz", task=MAT["activity"]["tasks"])
MAT_FIGURES = [
    "performance",
    "psth",
    "tuning_delay",
    "units",
    "decoding",
    "dpca",
    "errors",
    "unit",
]

MATURATION_TARGETS = [
    "results/maturation/train/metrics.json",
    "results/maturation/analysis/metrics.json",
    "results/maturation/decoding/metrics.json",
    "results/maturation/dpca/metrics.json",
    "results/maturation/errors/metrics.json",
] + [f"results/maturation/figures/maturation_{name}.png" for name in MAT_FIGURES]


rule train_maturation:
    output:
        checkpoints=directory("results/maturation/train/checkpoints"),
        log_csv="results/maturation/train/log.csv",
        metrics="results/maturation/train/metrics.json",
    log:
        "logs/maturation/train_maturation.log",
    benchmark:
        "logs/maturation/train_maturation.benchmark.tsv"
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=4000,
    params:
        task=section("maturation/task"),
        model=section("maturation/model"),
        train=section("maturation/train"),
    script:
        "../scripts/maturation_train.py"


rule maturation_stages:
    input:
        log_csv="results/maturation/train/log.csv",
    output:
        stages="results/maturation/stages/stages.json",
    log:
        "logs/maturation/maturation_stages.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=5,
        mem_mb=1000,
    params:
        stages=section("maturation/stages"),
    script:
        "../scripts/maturation_stages.py"


rule maturation_activity:
    input:
        checkpoints="results/maturation/train/checkpoints",
        stages="results/maturation/stages/stages.json",
    output:
        activity=MAT_ACTIVITY,
    log:
        "logs/maturation/maturation_activity.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        activity=section("maturation/activity"),
        task=section("maturation/task"),
    script:
        "../scripts/maturation_activity.py"


rule maturation_analysis:
    input:
        activity=MAT_ACTIVITY,
    output:
        metrics="results/maturation/analysis/metrics.json",
        counts="results/maturation/analysis/unit_counts.csv",
        psth="results/maturation/analysis/psth.npz",
        psth_csv="results/maturation/analysis/psth.csv",
        tuning="results/maturation/analysis/tuning.csv",
        delay="results/maturation/analysis/delay_activity.csv",
        growth="results/maturation/analysis/delay_growth.csv",
    log:
        "logs/maturation/maturation_analysis.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=20,
        mem_mb=4000,
    params:
        analysis=section("maturation/analysis"),
    script:
        "../scripts/maturation_analysis.py"


rule maturation_decoding:
    input:
        activity=f"results/maturation/activity/{MAT['decoding']['task']}.npz",
    output:
        npz="results/maturation/decoding/accuracy.npz",
        metrics="results/maturation/decoding/metrics.json",
    log:
        "logs/maturation/maturation_decoding.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=20,
        mem_mb=2000,
    params:
        decoding=section("maturation/decoding"),
    script:
        "../scripts/maturation_decoding.py"


rule maturation_dpca:
    input:
        activity=f"results/maturation/activity/{MAT['dpca']['task']}.npz",
    output:
        npz="results/maturation/dpca/components.npz",
        metrics="results/maturation/dpca/metrics.json",
    log:
        "logs/maturation/maturation_dpca.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=5,
        mem_mb=2000,
    params:
        dpca=section("maturation/dpca"),
    script:
        "../scripts/maturation_dpca.py"


rule maturation_errors:
    input:
        activity=expand("results/maturation/activity/{task}.npz", task=MAT["errors"]["tasks"]),
    output:
        hist="results/maturation/errors/error_histograms.csv",
        distractor="results/maturation/errors/distractor_distance.csv",
        metrics="results/maturation/errors/metrics.json",
    log:
        "logs/maturation/maturation_errors.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=5,
        mem_mb=2000,
    params:
        errors=section("maturation/errors"),
    script:
        "../scripts/maturation_errors.py"


rule maturation_unit:
    input:
        activity=f"results/maturation/activity/{MAT['unit']['task']}.npz",
    output:
        npz="results/maturation/unit/unit.npz",
    log:
        "logs/maturation/maturation_unit.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=5,
        mem_mb=2000,
    params:
        unit=section("maturation/unit"),
        analysis=section("maturation/analysis"),
    script:
        "../scripts/maturation_unit.py"


rule fig_maturation:
    input:
        log="results/maturation/train/log.csv",
        stages="results/maturation/stages/stages.json",
        psth="results/maturation/analysis/psth.npz",
        tuning="results/maturation/analysis/tuning.csv",
        delay="results/maturation/analysis/delay_activity.csv",
        growth="results/maturation/analysis/delay_growth.csv",
        metrics="results/maturation/analysis/metrics.json",
        counts="results/maturation/analysis/unit_counts.csv",
        decoding="results/maturation/decoding/accuracy.npz",
        dpca="results/maturation/dpca/components.npz",
        hist="results/maturation/errors/error_histograms.csv",
        distractor="results/maturation/errors/distractor_distance.csv",
        unit="results/maturation/unit/unit.npz",
    output:
        performance=report(
            "results/maturation/figures/maturation_performance.png",
            caption="../report/maturation_performance.rst",
            category="Brain maturation",
            subcategory="training",
        ),
        psth=report(
            "results/maturation/figures/maturation_psth.png",
            caption="../report/maturation_psth.rst",
            category="Brain maturation",
            subcategory="units",
        ),
        tuning_delay=report(
            "results/maturation/figures/maturation_tuning_delay.png",
            caption="../report/maturation_tuning_delay.rst",
            category="Brain maturation",
            subcategory="units",
        ),
        units=report(
            "results/maturation/figures/maturation_units.png",
            caption="../report/maturation_units.rst",
            category="Brain maturation",
            subcategory="units",
        ),
        decoding=report(
            "results/maturation/figures/maturation_decoding.png",
            caption="../report/maturation_decoding.rst",
            category="Brain maturation",
            subcategory="population",
        ),
        dpca=report(
            "results/maturation/figures/maturation_dpca.png",
            caption="../report/maturation_dpca.rst",
            category="Brain maturation",
            subcategory="population",
        ),
        errors=report(
            "results/maturation/figures/maturation_errors.png",
            caption="../report/maturation_errors.rst",
            category="Brain maturation",
            subcategory="behaviour",
        ),
        unit=report(
            "results/maturation/figures/maturation_unit.png",
            caption="../report/maturation_unit.rst",
            category="Brain maturation",
            subcategory="units",
        ),
    log:
        "logs/maturation/fig_maturation.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=5,
        mem_mb=2000,
    params:
        figures=section("maturation/figures"),
    script:
        "../scripts/maturation_figures.py"
