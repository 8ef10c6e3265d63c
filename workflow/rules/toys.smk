# Toy-circuit gallery (reference condense.md §4): LIF, two-unit linear network, Rubin et al.
# 2009 respiratory CPG, ring attractor. One rule per model, so a param edit reruns only it;
# toys_metrics merges the four metric files into the contract file results/toys/metrics.json.


TOYS_TARGETS = [
    "results/toys/metrics.json",
    "results/toys/figures/toys_lif.png",
    "results/toys/figures/toys_two_unit.png",
    "results/toys/figures/toys_rubin.png",
    "results/toys/figures/toys_ring.png",
    "results/toys/figures/toys_two_unit.gif",
    "results/toys/figures/toys_ring.gif",
]


rule toys_lif:
    output:
        metrics="results/toys/lif/metrics.json",
        fi="results/toys/lif/fi_curve.csv",
        traces="results/toys/lif/traces.npz",
    log:
        "logs/toys/toys_lif.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=1000,
    params:
        lif=section("toys/lif"),
    script:
        "../scripts/toys_lif.py"


rule toys_two_unit:
    output:
        metrics="results/toys/two_unit/metrics.json",
        arrays="results/toys/two_unit/arrays.npz",
    log:
        "logs/toys/toys_two_unit.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=1000,
    params:
        two_unit=section("toys/two_unit"),
    script:
        "../scripts/toys_two_unit.py"


rule toys_rubin:
    output:
        metrics="results/toys/rubin/metrics.json",
        conditions="results/toys/rubin/conditions.csv",
        traces="results/toys/rubin/traces.npz",
    log:
        "logs/toys/toys_rubin.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=1000,
    params:
        rubin=section("toys/rubin"),
    script:
        "../scripts/toys_rubin.py"


rule toys_ring:
    output:
        metrics="results/toys/ring/metrics.json",
        bumps="results/toys/ring/bumps.csv",
        arrays="results/toys/ring/arrays.npz",
    log:
        "logs/toys/toys_ring.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=1000,
    params:
        ring=section("toys/ring"),
    script:
        "../scripts/toys_ring.py"


rule toys_metrics:
    input:
        lif="results/toys/lif/metrics.json",
        two_unit="results/toys/two_unit/metrics.json",
        rubin="results/toys/rubin/metrics.json",
        ring="results/toys/ring/metrics.json",
    output:
        metrics="results/toys/metrics.json",
    log:
        "logs/toys/toys_metrics.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=5,
        mem_mb=500,
    script:
        "../scripts/toys_metrics.py"


rule fig_toys_lif:
    input:
        metrics="results/toys/lif/metrics.json",
        fi="results/toys/lif/fi_curve.csv",
        traces="results/toys/lif/traces.npz",
    output:
        figure=report(
            "results/toys/figures/toys_lif.png",
            caption="../report/toys_lif.rst",
            category="Toy circuits",
            subcategory="LIF neuron",
        ),
    log:
        "logs/toys/fig_toys_lif.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        figures=section("toys/figures"),
    script:
        "../scripts/toys_fig_lif.py"


rule fig_toys_two_unit:
    input:
        metrics="results/toys/two_unit/metrics.json",
        arrays="results/toys/two_unit/arrays.npz",
    output:
        figure=report(
            "results/toys/figures/toys_two_unit.png",
            caption="../report/toys_two_unit.rst",
            category="Toy circuits",
            subcategory="Two-unit network",
        ),
        gif="results/toys/figures/toys_two_unit.gif",
    log:
        "logs/toys/fig_toys_two_unit.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        figures=section("toys/figures"),
    script:
        "../scripts/toys_fig_two_unit.py"


rule fig_toys_rubin:
    input:
        metrics="results/toys/rubin/metrics.json",
        traces="results/toys/rubin/traces.npz",
    output:
        figure=report(
            "results/toys/figures/toys_rubin.png",
            caption="../report/toys_rubin.rst",
            category="Toy circuits",
            subcategory="Respiratory CPG",
        ),
    log:
        "logs/toys/fig_toys_rubin.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        figures=section("toys/figures"),
    script:
        "../scripts/toys_fig_rubin.py"


rule fig_toys_ring:
    input:
        metrics="results/toys/ring/metrics.json",
        bumps="results/toys/ring/bumps.csv",
        arrays="results/toys/ring/arrays.npz",
    output:
        figure=report(
            "results/toys/figures/toys_ring.png",
            caption="../report/toys_ring.rst",
            category="Toy circuits",
            subcategory="Ring attractor",
        ),
        gif="results/toys/figures/toys_ring.gif",
    log:
        "logs/toys/fig_toys_ring.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        figures=section("toys/figures"),
    script:
        "../scripts/toys_fig_ring.py"
