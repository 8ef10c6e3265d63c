# Rhythm study (ZRNN now; PRNN and IZRNN slot in as rules here, see reference rhythm.md §8-10).


RHYTHM_TARGETS = [
    "results/rhythm/zrnn_eval/metrics.json",
    "results/rhythm/figures/zrnn_outputs.png",
    "results/rhythm/figures/zrnn_loss.png",
    "results/rhythm/figures/zrnn_continuation.png",
    "results/rhythm/figures/zrnn_cue_interval.png",
    "results/rhythm/figures/zrnn_raster.png",
    "results/rhythm/figures/zrnn_pca.png",
    "results/rhythm/figures/zrnn_cycle_lengths.png",
    "results/rhythm/figures/reduced_model.png",
    "results/rhythm/figures/zrnn_flow.png",
]


rule rhythm_data:
    output:
        val="results/rhythm/data/val.npz",
        test="results/rhythm/data/test.npz",
    log:
        "logs/rhythm/rhythm_data.log",
    conda:
        "../../envs/rnnlab.yaml"
    params:
        task=section("rhythm/task"),
        data=section("rhythm/data"),
    script:
        "../scripts/rhythm_data.py"


rule train_zrnn:
    input:
        val="results/rhythm/data/val.npz",
    output:
        checkpoint="results/rhythm/zrnn/model.pt",
        curve="results/rhythm/zrnn/loss_curve.csv",
        metrics="results/rhythm/zrnn/metrics.json",
    log:
        "logs/rhythm/train_zrnn.log",
    benchmark:
        "logs/rhythm/train_zrnn.benchmark.tsv"
    conda:
        "../../envs/rnnlab.yaml"
    threads: 2
    resources:
        gpu=1,
        cpus_per_gpu=2,
        runtime=60,
        mem_mb=4000,
    params:
        task=section("rhythm/task"),
        zrnn=section("rhythm/zrnn"),
    script:
        "../scripts/train_zrnn.py"


rule eval_zrnn:
    input:
        checkpoint="results/rhythm/zrnn/model.pt",
        test="results/rhythm/data/test.npz",
    output:
        metrics="results/rhythm/zrnn_eval/metrics.json",
        table="results/rhythm/zrnn_eval/continuation.csv",
        generalisation="results/rhythm/zrnn_eval/generalisation.csv",
        sync="results/rhythm/zrnn_eval/sync.csv",
        traces="results/rhythm/zrnn_eval/traces.npz",
    log:
        "logs/rhythm/eval_zrnn.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 2
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        evaluation=section("rhythm/zrnn_eval"),
    script:
        "../scripts/eval_zrnn.py"


rule fig_zrnn_outputs:
    input:
        traces="results/rhythm/zrnn_eval/traces.npz",
        table="results/rhythm/zrnn_eval/continuation.csv",
        generalisation="results/rhythm/zrnn_eval/generalisation.csv",
        sync="results/rhythm/zrnn_eval/sync.csv",
        curve="results/rhythm/zrnn/loss_curve.csv",
    output:
        outputs=report(
            "results/rhythm/figures/zrnn_outputs.png",
            caption="../report/zrnn_outputs.rst",
            category="Rhythm",
            subcategory="ZRNN behaviour",
        ),
        loss=report(
            "results/rhythm/figures/zrnn_loss.png",
            caption="../report/zrnn_loss.rst",
            category="Rhythm",
            subcategory="ZRNN behaviour",
        ),
        continuation=report(
            "results/rhythm/figures/zrnn_continuation.png",
            caption="../report/zrnn_continuation.rst",
            category="Rhythm",
            subcategory="ZRNN behaviour",
        ),
        cue_interval=report(
            "results/rhythm/figures/zrnn_cue_interval.png",
            caption="../report/zrnn_cue_interval.rst",
            category="Rhythm",
            subcategory="ZRNN behaviour",
        ),
    log:
        "logs/rhythm/fig_zrnn_outputs.log",
    conda:
        "../../envs/rnnlab.yaml"
    params:
        figures=section("rhythm/figures"),
    script:
        "../scripts/fig_zrnn_outputs.py"


rule zrnn_dynamics:
    input:
        checkpoint="results/rhythm/zrnn/model.pt",
    output:
        metrics="results/rhythm/zrnn_dynamics/metrics.json",
        units="results/rhythm/zrnn_dynamics/units.csv",
        cycles="results/rhythm/zrnn_dynamics/cycles.csv",
        figure_data="results/rhythm/zrnn_dynamics/figure_data.npz",
    log:
        "logs/rhythm/zrnn_dynamics.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 2
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        dynamics=section("rhythm/zrnn_dynamics"),
        taps=section("rhythm/zrnn_eval/taps"),
    script:
        "../scripts/zrnn_dynamics.py"


rule fig_zrnn_dynamics:
    input:
        figure_data="results/rhythm/zrnn_dynamics/figure_data.npz",
        units="results/rhythm/zrnn_dynamics/units.csv",
        cycles="results/rhythm/zrnn_dynamics/cycles.csv",
    output:
        raster=report(
            "results/rhythm/figures/zrnn_raster.png",
            caption="../report/zrnn_raster.rst",
            category="Rhythm",
            subcategory="ZRNN dynamics",
        ),
        pca=report(
            "results/rhythm/figures/zrnn_pca.png",
            caption="../report/zrnn_pca.rst",
            category="Rhythm",
            subcategory="ZRNN dynamics",
        ),
        lengths=report(
            "results/rhythm/figures/zrnn_cycle_lengths.png",
            caption="../report/zrnn_cycle_lengths.rst",
            category="Rhythm",
            subcategory="ZRNN dynamics",
        ),
    log:
        "logs/rhythm/fig_zrnn_dynamics.log",
    conda:
        "../../envs/rnnlab.yaml"
    params:
        figures=section("rhythm/figures"),
    script:
        "../scripts/fig_zrnn_dynamics.py"


rule zrnn_flow:
    input:
        checkpoint="results/rhythm/zrnn/model.pt",
    output:
        metrics="results/rhythm/zrnn_flow/metrics.json",
        regimes="results/rhythm/zrnn_flow/regimes.csv",
        flow="results/rhythm/zrnn_flow/flow.npz",
    log:
        "logs/rhythm/zrnn_flow.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 2
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        flow=section("rhythm/zrnn_flow"),
    script:
        "../scripts/zrnn_flow.py"


rule fig_zrnn_flow:
    input:
        metrics="results/rhythm/zrnn_flow/metrics.json",
        regimes="results/rhythm/zrnn_flow/regimes.csv",
        flow="results/rhythm/zrnn_flow/flow.npz",
    output:
        figure=report(
            "results/rhythm/figures/zrnn_flow.png",
            caption="../report/zrnn_flow.rst",
            category="Rhythm",
            subcategory="ZRNN flow fields",
        ),
    log:
        "logs/rhythm/fig_zrnn_flow.log",
    conda:
        "../../envs/rnnlab.yaml"
    params:
        figures=section("rhythm/figures"),
    script:
        "../scripts/fig_zrnn_flow.py"


rule reduced_model:
    output:
        metrics="results/rhythm/reduced_model/metrics.json",
        curve="results/rhythm/reduced_model/period_curve.csv",
        arrays="results/rhythm/reduced_model/arrays.npz",
    log:
        "logs/rhythm/reduced_model.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=20,
        mem_mb=2000,
    params:
        reduced=section("rhythm/reduced_model"),
    script:
        "../scripts/reduced_model.py"


rule fig_reduced_model:
    input:
        metrics="results/rhythm/reduced_model/metrics.json",
        curve="results/rhythm/reduced_model/period_curve.csv",
        arrays="results/rhythm/reduced_model/arrays.npz",
    output:
        figure=report(
            "results/rhythm/figures/reduced_model.png",
            caption="../report/reduced_model.rst",
            category="Rhythm",
            subcategory="Reduced model",
        ),
    log:
        "logs/rhythm/fig_reduced_model.log",
    conda:
        "../../envs/rnnlab.yaml"
    params:
        figures=section("rhythm/figures"),
    script:
        "../scripts/fig_reduced_model.py"
