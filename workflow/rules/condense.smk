# Condense study (issue 9, seed 004; reference condense.md §1-3): can a trained Cue-Set-Go
# RNN be shrunk to a small circuit that keeps its solution?

CONDENSE_METHODS = ["random", "pair_merge", "ls_prune", "svd", "iterative_merge"]

CONDENSE_TARGETS = [
    "results/condense/csg/metrics.json",
    "results/condense/original/metrics.json",
    *expand("results/condense/{method}/metrics.json", method=CONDENSE_METHODS),
    "results/condense/size_sweep/metrics.json",
    "results/condense/summary/metrics.json",
    "results/condense/figures/condense_performance.png",
    "results/condense/figures/condense_similarity.png",
    "results/condense/figures/condense_ramps_pca.png",
    "results/condense/figures/condense_fixed_points.png",
    "results/condense/figures/condense_size_sweep.png",
]


rule condense_train_csg:
    output:
        checkpoint="results/condense/csg/model.pt",
        curve="results/condense/csg/loss_curve.csv",
        metrics="results/condense/csg/metrics.json",
    log:
        "logs/condense/condense_train_csg.log",
    benchmark:
        "logs/condense/condense_train_csg.benchmark.tsv"
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        task=section("condense/task"),
        model=section("condense/model"),
        train=section("condense/train"),
        evaluation=section("condense/evaluation"),
    script:
        "../scripts/condense_train_csg.py"


rule condense_original:
    input:
        checkpoint="results/condense/csg/model.pt",
    output:
        metrics="results/condense/original/metrics.json",
        arrays="results/condense/original/arrays.npz",
    log:
        "logs/condense/condense_original.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        evaluation=section("condense/evaluation"),
        battery=section("condense/battery"),
    script:
        "../scripts/condense_original.py"


# One rule per reduction method (explicit, no wildcards: dvc-sync maps rules to stages).
rule condense_reduce_random:
    input:
        checkpoint="results/condense/csg/model.pt",
        original="results/condense/original/metrics.json",
    output:
        metrics="results/condense/random/metrics.json",
        curve="results/condense/random/curve.csv",
        arrays="results/condense/random/arrays.npz",
    log:
        "logs/condense/condense_reduce_random.log",
    benchmark:
        "logs/condense/condense_reduce_random.benchmark.tsv"
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        method=section("condense/reduce/random"),
        finetune=section("condense/finetune"),
        evaluation=section("condense/evaluation"),
        battery=section("condense/battery"),
        criterion=section("condense/criterion"),
    script:
        "../scripts/condense_reduce.py"


rule condense_reduce_pair_merge:
    input:
        checkpoint="results/condense/csg/model.pt",
        original="results/condense/original/metrics.json",
    output:
        metrics="results/condense/pair_merge/metrics.json",
        curve="results/condense/pair_merge/curve.csv",
        arrays="results/condense/pair_merge/arrays.npz",
    log:
        "logs/condense/condense_reduce_pair_merge.log",
    benchmark:
        "logs/condense/condense_reduce_pair_merge.benchmark.tsv"
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        method=section("condense/reduce/pair_merge"),
        finetune=section("condense/finetune"),
        evaluation=section("condense/evaluation"),
        battery=section("condense/battery"),
        criterion=section("condense/criterion"),
    script:
        "../scripts/condense_reduce.py"


rule condense_reduce_ls_prune:
    input:
        checkpoint="results/condense/csg/model.pt",
        original="results/condense/original/metrics.json",
    output:
        metrics="results/condense/ls_prune/metrics.json",
        curve="results/condense/ls_prune/curve.csv",
        arrays="results/condense/ls_prune/arrays.npz",
    log:
        "logs/condense/condense_reduce_ls_prune.log",
    benchmark:
        "logs/condense/condense_reduce_ls_prune.benchmark.tsv"
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        method=section("condense/reduce/ls_prune"),
        finetune=section("condense/finetune"),
        evaluation=section("condense/evaluation"),
        battery=section("condense/battery"),
        criterion=section("condense/criterion"),
    script:
        "../scripts/condense_reduce.py"


rule condense_reduce_svd:
    input:
        checkpoint="results/condense/csg/model.pt",
        original="results/condense/original/metrics.json",
    output:
        metrics="results/condense/svd/metrics.json",
        curve="results/condense/svd/curve.csv",
        arrays="results/condense/svd/arrays.npz",
    log:
        "logs/condense/condense_reduce_svd.log",
    benchmark:
        "logs/condense/condense_reduce_svd.benchmark.tsv"
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        method=section("condense/reduce/svd"),
        finetune=section("condense/finetune"),
        evaluation=section("condense/evaluation"),
        battery=section("condense/battery"),
        criterion=section("condense/criterion"),
    script:
        "../scripts/condense_reduce.py"


rule condense_reduce_iterative_merge:
    input:
        checkpoint="results/condense/csg/model.pt",
        original="results/condense/original/metrics.json",
    output:
        metrics="results/condense/iterative_merge/metrics.json",
        curve="results/condense/iterative_merge/curve.csv",
        arrays="results/condense/iterative_merge/arrays.npz",
    log:
        "logs/condense/condense_reduce_iterative_merge.log",
    benchmark:
        "logs/condense/condense_reduce_iterative_merge.benchmark.tsv"
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=30,
        mem_mb=2000,
    params:
        method=section("condense/reduce/iterative_merge"),
        finetune=section("condense/finetune"),
        evaluation=section("condense/evaluation"),
        battery=section("condense/battery"),
        criterion=section("condense/criterion"),
    script:
        "../scripts/condense_reduce.py"


rule condense_size_sweep:
    output:
        metrics="results/condense/size_sweep/metrics.json",
        table="results/condense/size_sweep/sizes.csv",
        arrays="results/condense/size_sweep/arrays.npz",
        models="results/condense/size_sweep/models.pt",
    log:
        "logs/condense/condense_size_sweep.log",
    benchmark:
        "logs/condense/condense_size_sweep.benchmark.tsv"
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=2000,
    params:
        task=section("condense/task"),
        model=section("condense/model"),
        train=section("condense/train"),
        size_sweep=section("condense/size_sweep"),
        evaluation=section("condense/evaluation"),
        battery=section("condense/battery"),
    script:
        "../scripts/condense_size_sweep.py"


rule condense_summary:
    input:
        checkpoint="results/condense/csg/model.pt",
        sweep_models="results/condense/size_sweep/models.pt",
        metrics=expand("results/condense/{method}/metrics.json", method=CONDENSE_METHODS),
    output:
        metrics="results/condense/summary/metrics.json",
        table="results/condense/summary/methods.csv",
    log:
        "logs/condense/condense_summary.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        evaluation=section("condense/evaluation"),
    script:
        "../scripts/condense_summary.py"


rule fig_condense:
    input:
        summary="results/condense/summary/metrics.json",
        csg="results/condense/csg/metrics.json",
        original="results/condense/original/metrics.json",
        original_arrays="results/condense/original/arrays.npz",
        metrics=expand("results/condense/{method}/metrics.json", method=CONDENSE_METHODS),
        curves=expand("results/condense/{method}/curve.csv", method=CONDENSE_METHODS),
        arrays=expand("results/condense/{method}/arrays.npz", method=CONDENSE_METHODS),
        sweep="results/condense/size_sweep/metrics.json",
        sweep_table="results/condense/size_sweep/sizes.csv",
        sweep_arrays="results/condense/size_sweep/arrays.npz",
    output:
        performance=report(
            "results/condense/figures/condense_performance.png",
            caption="../report/condense_performance.rst",
            category="Condense",
            subcategory="Reduction",
        ),
        similarity=report(
            "results/condense/figures/condense_similarity.png",
            caption="../report/condense_similarity.rst",
            category="Condense",
            subcategory="Reduction",
        ),
        ramps_pca=report(
            "results/condense/figures/condense_ramps_pca.png",
            caption="../report/condense_ramps_pca.rst",
            category="Condense",
            subcategory="Same solution?",
        ),
        fixed_points=report(
            "results/condense/figures/condense_fixed_points.png",
            caption="../report/condense_fixed_points.rst",
            category="Condense",
            subcategory="Same solution?",
        ),
        size_sweep=report(
            "results/condense/figures/condense_size_sweep.png",
            caption="../report/condense_size_sweep.rst",
            category="Condense",
            subcategory="Size sweep",
        ),
    log:
        "logs/condense/fig_condense.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        figures=section("condense/figures"),
    script:
        "../scripts/condense_figures.py"
