# V1 layer-5 rate model (CS/CC/PV/SST; reference circuits.md part B).


V1_FIGS = ["weights", "selectivity", "activity", "weights_time", "rates"]
V1_SIM_FILES = [
    "metrics.json",
    "selectivity.csv",
    "selectivity_per_sim.csv",
    "weights.csv",
    "neurons.csv",
    "timecourse.npz",
]

V1_TARGETS = (
    [
        "results/v1/simulate/metrics.json",
        "results/v1/tune/metrics.json",
        "results/v1/best/metrics.json",
        "results/v1/figures/v1_tuning.png",
    ]
    + expand("results/v1/figures/v1_{fig}.png", fig=V1_FIGS)
    + expand("results/v1/figures/v1_best_{fig}.png", fig=V1_FIGS)
)


rule v1_simulate:
    output:
        expand("results/v1/simulate/{f}", f=V1_SIM_FILES),
    log:
        "logs/v1/v1_simulate.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=15,
        mem_mb=2000,
    params:
        simulate=section("v1/simulate"),
    script:
        "../scripts/v1_simulate.py"


rule v1_tune:
    output:
        metrics="results/v1/tune/metrics.json",
        trials="results/v1/tune/trials.csv",
    log:
        "logs/v1/v1_tune.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=2000,
    params:
        simulate=section("v1/simulate"),
        tune=section("v1/tune"),
    script:
        "../scripts/v1_tune.py"


rule v1_best:
    input:
        tune="results/v1/tune/metrics.json",
    output:
        expand("results/v1/best/{f}", f=V1_SIM_FILES),
    log:
        "logs/v1/v1_best.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=15,
        mem_mb=2000,
    params:
        simulate=section("v1/simulate"),
    script:
        "../scripts/v1_best.py"


rule fig_v1:
    input:
        expand("results/v1/simulate/{f}", f=V1_SIM_FILES),
    output:
        weights=report(
            "results/v1/figures/v1_weights.png",
            caption="../report/v1_weights.rst",
            category="V1 layer-5 model",
            subcategory="Default parameters",
        ),
        selectivity=report(
            "results/v1/figures/v1_selectivity.png",
            caption="../report/v1_selectivity.rst",
            category="V1 layer-5 model",
            subcategory="Default parameters",
        ),
        activity=report(
            "results/v1/figures/v1_activity.png",
            caption="../report/v1_activity.rst",
            category="V1 layer-5 model",
            subcategory="Default parameters",
        ),
        weights_time=report(
            "results/v1/figures/v1_weights_time.png",
            caption="../report/v1_weights_time.rst",
            category="V1 layer-5 model",
            subcategory="Default parameters",
        ),
        rates=report(
            "results/v1/figures/v1_rates.png",
            caption="../report/v1_rates.rst",
            category="V1 layer-5 model",
            subcategory="Default parameters",
        ),
    log:
        "logs/v1/fig_v1.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        figures=section("v1/figures"),
    script:
        "../scripts/v1_fig.py"


rule fig_v1_best:
    input:
        expand("results/v1/best/{f}", f=V1_SIM_FILES),
        trials="results/v1/tune/trials.csv",
        tune="results/v1/tune/metrics.json",
    output:
        weights=report(
            "results/v1/figures/v1_best_weights.png",
            caption="../report/v1_best_weights.rst",
            category="V1 layer-5 model",
            subcategory="Tuned parameters",
        ),
        selectivity=report(
            "results/v1/figures/v1_best_selectivity.png",
            caption="../report/v1_best_selectivity.rst",
            category="V1 layer-5 model",
            subcategory="Tuned parameters",
        ),
        activity=report(
            "results/v1/figures/v1_best_activity.png",
            caption="../report/v1_best_activity.rst",
            category="V1 layer-5 model",
            subcategory="Tuned parameters",
        ),
        weights_time=report(
            "results/v1/figures/v1_best_weights_time.png",
            caption="../report/v1_best_weights_time.rst",
            category="V1 layer-5 model",
            subcategory="Tuned parameters",
        ),
        rates=report(
            "results/v1/figures/v1_best_rates.png",
            caption="../report/v1_best_rates.rst",
            category="V1 layer-5 model",
            subcategory="Tuned parameters",
        ),
        tuning=report(
            "results/v1/figures/v1_tuning.png",
            caption="../report/v1_tuning.rst",
            category="V1 layer-5 model",
            subcategory="Tuned parameters",
        ),
    log:
        "logs/v1/fig_v1_best.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        figures=section("v1/figures"),
    script:
        "../scripts/v1_fig.py"
