# Condense study (issue 9, seed 004; reference condense.md §1-3): can a trained Cue-Set-Go
# RNN be shrunk to a small circuit that keeps its solution? Every network in
# condense.network_seeds is trained, condensed and swept on its own
# (results/condense/net<n>/...); condense_aggregate and condense_summary combine them.

CONDENSE_METHODS = ["random", "pair_merge", "ls_prune", "svd", "iterative_merge"]
CONDENSE_NETS = [str(s) for s in config["condense"]["network_seeds"]]
# {net} takes exactly the listed seeds; rnnlab dvc-sync expands each rule into one stage
# per value (condense_train_csg_net0, ...), so the constraint must list them literally
CONDENSE_NET_PATTERN = "|".join(CONDENSE_NETS)
CONDENSE_FIGURES = [
    "performance",
    "similarity",
    "ramps_pca",
    "fixed_points",
    "size_sweep",
    "networks",
]

CONDENSE_TARGETS = [
    *expand("results/condense/{method}/metrics.json", method=CONDENSE_METHODS),
    "results/condense/summary/metrics.json",
    *expand("results/condense/figures/condense_{name}.png", name=CONDENSE_FIGURES),
]


rule condense_train_csg:
    output:
        checkpoint="results/condense/net{net}/csg/model.pt",
        curve="results/condense/net{net}/csg/loss_curve.csv",
        metrics="results/condense/net{net}/csg/metrics.json",
    log:
        "logs/condense/condense_train_csg_net{net}.log",
    benchmark:
        "logs/condense/condense_train_csg_net{net}.benchmark.tsv"
    wildcard_constraints:
        net=CONDENSE_NET_PATTERN,
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
        checkpoint="results/condense/net{net}/csg/model.pt",
    output:
        metrics="results/condense/net{net}/original/metrics.json",
        arrays="results/condense/net{net}/original/arrays.npz",
    log:
        "logs/condense/condense_original_net{net}.log",
    wildcard_constraints:
        net=CONDENSE_NET_PATTERN,
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


# One rule per reduction method (each reads its own params section; dvc-sync expands
# each over the networks).
rule condense_reduce_random:
    input:
        checkpoint="results/condense/net{net}/csg/model.pt",
        original="results/condense/net{net}/original/metrics.json",
    output:
        metrics="results/condense/net{net}/random/metrics.json",
        curve="results/condense/net{net}/random/curve.csv",
        arrays="results/condense/net{net}/random/arrays.npz",
    log:
        "logs/condense/condense_reduce_random_net{net}.log",
    benchmark:
        "logs/condense/condense_reduce_random_net{net}.benchmark.tsv"
    wildcard_constraints:
        net=CONDENSE_NET_PATTERN,
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
        checkpoint="results/condense/net{net}/csg/model.pt",
        original="results/condense/net{net}/original/metrics.json",
    output:
        metrics="results/condense/net{net}/pair_merge/metrics.json",
        curve="results/condense/net{net}/pair_merge/curve.csv",
        arrays="results/condense/net{net}/pair_merge/arrays.npz",
    log:
        "logs/condense/condense_reduce_pair_merge_net{net}.log",
    benchmark:
        "logs/condense/condense_reduce_pair_merge_net{net}.benchmark.tsv"
    wildcard_constraints:
        net=CONDENSE_NET_PATTERN,
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
        checkpoint="results/condense/net{net}/csg/model.pt",
        original="results/condense/net{net}/original/metrics.json",
    output:
        metrics="results/condense/net{net}/ls_prune/metrics.json",
        curve="results/condense/net{net}/ls_prune/curve.csv",
        arrays="results/condense/net{net}/ls_prune/arrays.npz",
    log:
        "logs/condense/condense_reduce_ls_prune_net{net}.log",
    benchmark:
        "logs/condense/condense_reduce_ls_prune_net{net}.benchmark.tsv"
    wildcard_constraints:
        net=CONDENSE_NET_PATTERN,
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
        checkpoint="results/condense/net{net}/csg/model.pt",
        original="results/condense/net{net}/original/metrics.json",
    output:
        metrics="results/condense/net{net}/svd/metrics.json",
        curve="results/condense/net{net}/svd/curve.csv",
        arrays="results/condense/net{net}/svd/arrays.npz",
    log:
        "logs/condense/condense_reduce_svd_net{net}.log",
    benchmark:
        "logs/condense/condense_reduce_svd_net{net}.benchmark.tsv"
    wildcard_constraints:
        net=CONDENSE_NET_PATTERN,
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
        checkpoint="results/condense/net{net}/csg/model.pt",
        original="results/condense/net{net}/original/metrics.json",
    output:
        metrics="results/condense/net{net}/iterative_merge/metrics.json",
        curve="results/condense/net{net}/iterative_merge/curve.csv",
        arrays="results/condense/net{net}/iterative_merge/arrays.npz",
    log:
        "logs/condense/condense_reduce_iterative_merge_net{net}.log",
    benchmark:
        "logs/condense/condense_reduce_iterative_merge_net{net}.benchmark.tsv"
    wildcard_constraints:
        net=CONDENSE_NET_PATTERN,
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
        metrics="results/condense/net{net}/size_sweep/metrics.json",
        table="results/condense/net{net}/size_sweep/sizes.csv",
        arrays="results/condense/net{net}/size_sweep/arrays.npz",
        models="results/condense/net{net}/size_sweep/models.pt",
    log:
        "logs/condense/condense_size_sweep_net{net}.log",
    benchmark:
        "logs/condense/condense_size_sweep_net{net}.benchmark.tsv"
    wildcard_constraints:
        net=CONDENSE_NET_PATTERN,
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


# The results-contract files results/condense/<method>/metrics.json: across-network medians,
# majorities and each network's own answer.
rule condense_aggregate:
    input:
        metrics=expand(
            "results/condense/net{net}/{method}/metrics.json",
            net=CONDENSE_NETS,
            method=CONDENSE_METHODS,
        ),
    output:
        metrics=expand("results/condense/{method}/metrics.json", method=CONDENSE_METHODS),
    log:
        "logs/condense/condense_aggregate.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    script:
        "../scripts/condense_aggregate.py"


rule condense_summary:
    input:
        checkpoints=expand("results/condense/net{net}/csg/model.pt", net=CONDENSE_NETS),
        originals=expand("results/condense/net{net}/original/metrics.json", net=CONDENSE_NETS),
        sweep_metrics=expand("results/condense/net{net}/size_sweep/metrics.json", net=CONDENSE_NETS),
        sweep_models=expand("results/condense/net{net}/size_sweep/models.pt", net=CONDENSE_NETS),
        metrics=expand("results/condense/{method}/metrics.json", method=CONDENSE_METHODS),
    output:
        metrics="results/condense/summary/metrics.json",
        table="results/condense/summary/methods.csv",
        networks="results/condense/summary/networks.csv",
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
        aggregates=expand("results/condense/{method}/metrics.json", method=CONDENSE_METHODS),
        csg=expand("results/condense/net{net}/csg/metrics.json", net=CONDENSE_NETS),
        originals=expand("results/condense/net{net}/original/metrics.json", net=CONDENSE_NETS),
        original_arrays=expand("results/condense/net{net}/original/arrays.npz", net=CONDENSE_NETS),
        metrics=expand(
            "results/condense/net{net}/{method}/metrics.json",
            net=CONDENSE_NETS,
            method=CONDENSE_METHODS,
        ),
        curves=expand(
            "results/condense/net{net}/{method}/curve.csv",
            net=CONDENSE_NETS,
            method=CONDENSE_METHODS,
        ),
        arrays=expand(
            "results/condense/net{net}/{method}/arrays.npz",
            net=CONDENSE_NETS,
            method=CONDENSE_METHODS,
        ),
        sweeps=expand("results/condense/net{net}/size_sweep/metrics.json", net=CONDENSE_NETS),
        sweep_tables=expand("results/condense/net{net}/size_sweep/sizes.csv", net=CONDENSE_NETS),
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
        networks=report(
            "results/condense/figures/condense_networks.png",
            caption="../report/condense_networks.rst",
            category="Condense",
            subcategory="Reduction",
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
        network_seeds=section("condense/network_seeds"),
    script:
        "../scripts/condense_figures.py"
