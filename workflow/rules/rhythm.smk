# Rhythm study: ZRNN, reduced model, PRNN and IZRNN (reference rhythm.md).


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
    "results/rhythm/prnn_eval/metrics.json",
    "results/rhythm/figures/prnn_loss.png",
    "results/rhythm/figures/prnn_predicted_vs_true.png",
    "results/rhythm/figures/prnn_traces.png",
    "results/rhythm/figures/prnn_raster.png",
    "results/rhythm/figures/prnn_pca_3d.png",
    "results/rhythm/figures/prnn_pca_2d.png",
    "results/rhythm/figures/prnn_trajectory_stats.png",
    "results/rhythm/izrnn_eval/metrics.json",
    "results/rhythm/figures/izrnn_cue_interval.png",
    "results/rhythm/figures/izrnn_error_split.png",
    "results/rhythm/figures/izrnn_traces.png",
    "results/rhythm/figures/izrnn_finetune.png",
    "results/rhythm/figures/izrnn_raster.png",
    "results/rhythm/figures/izrnn_pca.png",
    "results/rhythm/figures/izrnn_cycle_lengths.png",
    "results/rhythm/figures/izrnn_flow.png",
]

# The IZRNN's ZRNN: retrained on rhythm.izrnn.zrnn_retrain's tempos (HA-141) or the study's own.
if config["rhythm"]["izrnn"]["zrnn_source"] == "retrained":
    IZRNN_ZRNN = "results/rhythm/izrnn_zrnn/model.pt"
    RHYTHM_TARGETS.append("results/rhythm/izrnn_zrnn_eval/metrics.json")
else:
    IZRNN_ZRNN = "results/rhythm/zrnn/model.pt"


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


rule prnn_data:
    output:
        val="results/rhythm/prnn_data/val.npz",
        test="results/rhythm/prnn_data/test.npz",
    log:
        "logs/rhythm/prnn_data.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        task=section("rhythm/prnn/task"),
        data=section("rhythm/prnn/data"),
    script:
        "../scripts/prnn_data.py"


rule train_prnn:
    input:
        val="results/rhythm/prnn_data/val.npz",
    output:
        checkpoint="results/rhythm/prnn/model.pt",
        curve="results/rhythm/prnn/loss_curve.csv",
        metrics="results/rhythm/prnn/metrics.json",
    log:
        "logs/rhythm/train_prnn.log",
    benchmark:
        "logs/rhythm/train_prnn.benchmark.tsv"
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        gpu=1,
        cpus_per_gpu=2,
        runtime=60,
        mem_mb=4000,
    params:
        task=section("rhythm/prnn/task"),
        model=section("rhythm/prnn/model"),
        train=section("rhythm/prnn/train"),
    script:
        "../scripts/train_prnn.py"


rule eval_prnn:
    input:
        checkpoint="results/rhythm/prnn/model.pt",
        test="results/rhythm/prnn_data/test.npz",
    output:
        metrics="results/rhythm/prnn_eval/metrics.json",
        trials="results/rhythm/prnn_eval/trials.csv",
        figure_data="results/rhythm/prnn_eval/figure_data.npz",
    log:
        "logs/rhythm/eval_prnn.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 1
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        evaluation=section("rhythm/prnn_eval"),
    script:
        "../scripts/eval_prnn.py"


rule fig_prnn:
    input:
        curve="results/rhythm/prnn/loss_curve.csv",
        metrics="results/rhythm/prnn_eval/metrics.json",
        trials="results/rhythm/prnn_eval/trials.csv",
        figure_data="results/rhythm/prnn_eval/figure_data.npz",
    output:
        loss=report(
            "results/rhythm/figures/prnn_loss.png",
            caption="../report/prnn_loss.rst",
            category="Rhythm",
            subcategory="PRNN period estimation",
        ),
        scatter=report(
            "results/rhythm/figures/prnn_predicted_vs_true.png",
            caption="../report/prnn_predicted_vs_true.rst",
            category="Rhythm",
            subcategory="PRNN period estimation",
        ),
        traces=report(
            "results/rhythm/figures/prnn_traces.png",
            caption="../report/prnn_traces.rst",
            category="Rhythm",
            subcategory="PRNN period estimation",
        ),
        raster=report(
            "results/rhythm/figures/prnn_raster.png",
            caption="../report/prnn_raster.rst",
            category="Rhythm",
            subcategory="PRNN dynamics",
        ),
        pca3d=report(
            "results/rhythm/figures/prnn_pca_3d.png",
            caption="../report/prnn_pca_3d.rst",
            category="Rhythm",
            subcategory="PRNN dynamics",
        ),
        pca2d=report(
            "results/rhythm/figures/prnn_pca_2d.png",
            caption="../report/prnn_pca_2d.rst",
            category="Rhythm",
            subcategory="PRNN dynamics",
        ),
        trajectory=report(
            "results/rhythm/figures/prnn_trajectory_stats.png",
            caption="../report/prnn_trajectory_stats.rst",
            category="Rhythm",
            subcategory="PRNN dynamics",
        ),
    log:
        "logs/rhythm/fig_prnn.log",
    conda:
        "../../envs/rnnlab.yaml"
    params:
        figures=section("rhythm/figures"),
    script:
        "../scripts/fig_prnn.py"


rule izrnn_zrnn_data:
    output:
        val="results/rhythm/izrnn_zrnn_data/val.npz",
        test="results/rhythm/izrnn_zrnn_data/test.npz",
    log:
        "logs/rhythm/izrnn_zrnn_data.log",
    conda:
        "../../envs/rnnlab.yaml"
    params:
        task=section("rhythm/task"),
        data=section("rhythm/data"),
        retrain=section("rhythm/izrnn/zrnn_retrain"),
    script:
        "../scripts/izrnn_zrnn_data.py"


rule train_izrnn_zrnn:
    input:
        val="results/rhythm/izrnn_zrnn_data/val.npz",
    output:
        checkpoint="results/rhythm/izrnn_zrnn/model.pt",
        curve="results/rhythm/izrnn_zrnn/loss_curve.csv",
        metrics="results/rhythm/izrnn_zrnn/metrics.json",
    log:
        "logs/rhythm/train_izrnn_zrnn.log",
    benchmark:
        "logs/rhythm/train_izrnn_zrnn.benchmark.tsv"
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
        retrain=section("rhythm/izrnn/zrnn_retrain"),
    script:
        "../scripts/train_izrnn_zrnn.py"


rule eval_izrnn_zrnn:
    input:
        checkpoint="results/rhythm/izrnn_zrnn/model.pt",
        test="results/rhythm/izrnn_zrnn_data/test.npz",
    output:
        metrics="results/rhythm/izrnn_zrnn_eval/metrics.json",
        table="results/rhythm/izrnn_zrnn_eval/continuation.csv",
        generalisation="results/rhythm/izrnn_zrnn_eval/generalisation.csv",
        sync="results/rhythm/izrnn_zrnn_eval/sync.csv",
        traces="results/rhythm/izrnn_zrnn_eval/traces.npz",
    log:
        "logs/rhythm/eval_izrnn_zrnn.log",
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


rule izrnn_compose:
    input:
        prnn="results/rhythm/prnn/model.pt",
        zrnn=IZRNN_ZRNN,
    output:
        checkpoint="results/rhythm/izrnn/model.pt",
        curve="results/rhythm/izrnn/finetune_curve.csv",
        metrics="results/rhythm/izrnn/metrics.json",
    log:
        "logs/rhythm/izrnn_compose.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 2
    resources:
        gpu=1,
        cpus_per_gpu=2,
        runtime=60,
        mem_mb=4000,
    params:
        wiring=section("rhythm/izrnn/wiring"),
        finetune=section("rhythm/izrnn/finetune"),
    script:
        "../scripts/izrnn_compose.py"


rule eval_izrnn:
    input:
        checkpoint="results/rhythm/izrnn/model.pt",
    output:
        metrics="results/rhythm/izrnn_eval/metrics.json",
        trials="results/rhythm/izrnn_eval/trials.csv",
        activity="results/rhythm/izrnn_eval/activity.npz",
        traces="results/rhythm/izrnn_eval/traces.npz",
    log:
        "logs/rhythm/eval_izrnn.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 2
    resources:
        runtime=30,
        mem_mb=6000,
    params:
        evaluation=section("rhythm/izrnn_eval"),
        taps=section("rhythm/zrnn_eval/taps"),
    script:
        "../scripts/eval_izrnn.py"


rule fig_izrnn:
    input:
        trials="results/rhythm/izrnn_eval/trials.csv",
        traces="results/rhythm/izrnn_eval/traces.npz",
        curve="results/rhythm/izrnn/finetune_curve.csv",
        compose="results/rhythm/izrnn/metrics.json",
    output:
        cue_interval=report(
            "results/rhythm/figures/izrnn_cue_interval.png",
            caption="../report/izrnn_cue_interval.rst",
            category="Rhythm",
            subcategory="IZRNN behaviour",
        ),
        error_split=report(
            "results/rhythm/figures/izrnn_error_split.png",
            caption="../report/izrnn_error_split.rst",
            category="Rhythm",
            subcategory="IZRNN behaviour",
        ),
        traces=report(
            "results/rhythm/figures/izrnn_traces.png",
            caption="../report/izrnn_traces.rst",
            category="Rhythm",
            subcategory="IZRNN behaviour",
        ),
        finetune=report(
            "results/rhythm/figures/izrnn_finetune.png",
            caption="../report/izrnn_finetune.rst",
            category="Rhythm",
            subcategory="IZRNN behaviour",
        ),
    log:
        "logs/rhythm/fig_izrnn.log",
    conda:
        "../../envs/rnnlab.yaml"
    params:
        figures=section("rhythm/figures"),
    script:
        "../scripts/fig_izrnn.py"


rule izrnn_dynamics:
    input:
        activity="results/rhythm/izrnn_eval/activity.npz",
    output:
        metrics="results/rhythm/izrnn_dynamics/metrics.json",
        units="results/rhythm/izrnn_dynamics/units.csv",
        cycles="results/rhythm/izrnn_dynamics/cycles.csv",
        figure_data="results/rhythm/izrnn_dynamics/figure_data.npz",
    log:
        "logs/rhythm/izrnn_dynamics.log",
    conda:
        "../../envs/rnnlab.yaml"
    resources:
        runtime=20,
        mem_mb=4000,
    params:
        dynamics=section("rhythm/zrnn_dynamics"),
        taps=section("rhythm/zrnn_eval/taps"),
    script:
        "../scripts/izrnn_dynamics.py"


rule fig_izrnn_dynamics:
    input:
        figure_data="results/rhythm/izrnn_dynamics/figure_data.npz",
        units="results/rhythm/izrnn_dynamics/units.csv",
        cycles="results/rhythm/izrnn_dynamics/cycles.csv",
    output:
        raster=report(
            "results/rhythm/figures/izrnn_raster.png",
            caption="../report/izrnn_raster.rst",
            category="Rhythm",
            subcategory="IZRNN dynamics",
        ),
        pca=report(
            "results/rhythm/figures/izrnn_pca.png",
            caption="../report/izrnn_pca.rst",
            category="Rhythm",
            subcategory="IZRNN dynamics",
        ),
        lengths=report(
            "results/rhythm/figures/izrnn_cycle_lengths.png",
            caption="../report/izrnn_cycle_lengths.rst",
            category="Rhythm",
            subcategory="IZRNN dynamics",
        ),
    log:
        "logs/rhythm/fig_izrnn_dynamics.log",
    conda:
        "../../envs/rnnlab.yaml"
    params:
        figures=section("rhythm/figures"),
    script:
        "../scripts/fig_zrnn_dynamics.py"


rule izrnn_flow:
    input:
        checkpoint="results/rhythm/izrnn/model.pt",
        trials="results/rhythm/izrnn_eval/trials.csv",
    output:
        metrics="results/rhythm/izrnn_flow/metrics.json",
        regimes="results/rhythm/izrnn_flow/regimes.csv",
        flow="results/rhythm/izrnn_flow/flow.npz",
    log:
        "logs/rhythm/izrnn_flow.log",
    conda:
        "../../envs/rnnlab.yaml"
    threads: 2
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        flow=section("rhythm/zrnn_flow"),
        evaluation=section("rhythm/izrnn_eval"),
    script:
        "../scripts/izrnn_flow.py"


rule fig_izrnn_flow:
    input:
        metrics="results/rhythm/izrnn_flow/metrics.json",
        regimes="results/rhythm/izrnn_flow/regimes.csv",
        flow="results/rhythm/izrnn_flow/flow.npz",
    output:
        figure=report(
            "results/rhythm/figures/izrnn_flow.png",
            caption="../report/izrnn_flow.rst",
            category="Rhythm",
            subcategory="IZRNN flow fields",
        ),
    log:
        "logs/rhythm/fig_izrnn_flow.log",
    conda:
        "../../envs/rnnlab.yaml"
    params:
        figures=section("rhythm/figures"),
    script:
        "../scripts/fig_zrnn_flow.py"
