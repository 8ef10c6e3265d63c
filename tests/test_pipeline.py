"""The Snakemake DAG end to end on the smoke preset: outputs, numbers, rerun granularity."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import run, smoke_params

from rnnlab.analysis.condense_aggregate import median_smallest
from rnnlab.seeds import derive_seed
from rnnlab.tasks.rhythm import RhythmTaskConfig, build_trials

pytestmark = pytest.mark.slow


def _planned_jobs(work, overlay: dict | None = None, tmp_path=None) -> set[str]:
    cmd = ["snakemake", "-n"]
    if overlay is not None:
        path = tmp_path / "overlay.yaml"
        path.write_text(yaml.safe_dump(overlay))
        cmd += ["--configfile", str(path)]
    out = run(cmd, cwd=work).stdout
    if "Nothing to be done" in out:
        return set()
    table = out.split("Job stats:")[1].split("total")[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, re.M)} - {"all"}


def _planned_counts(work, overlay: dict, tmp_path) -> dict[str, int]:
    """Jobs per rule a dry run would execute with ``overlay`` (rule -> count)."""
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    out = run(["snakemake", "-n", "--configfile", str(path)], cwd=work).stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1].split("total")[0]
    found = re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)
    return {m.group(1): int(m.group(2)) for m in found if m.group(1) != "all"}


def test_outputs_and_metric_keys(smoke_run) -> None:
    train = json.loads((smoke_run / "results/rhythm/zrnn/metrics.json").read_text())
    ev = json.loads((smoke_run / "results/rhythm/zrnn_eval/metrics.json").read_text())
    params = smoke_params()["rhythm"]
    assert train["train"]["steps"] == params["zrnn"]["train"]["max_steps"]
    assert train["train"]["seconds"] > 0 and train["train"]["best_val_mse"] > 0
    assert 0.0 <= ev["continuation"]["mare"] <= 1.0
    assert set(ev["continuation"]["per_tempo"]) == {f"{p:g}" for p in params["task"]["periods_s"]}
    # results-contract keys
    gen = ev["generalisation"]
    assert isinstance(gen["monotonic"], bool) and gen["n_cues"] == 6
    assert {"interp_mare", "extrap_mare"} <= set(gen)
    assert {"asynchrony_mean_ms", "asynchrony_sd_ms"} <= set(ev["sync"])
    gen_table = pd.read_csv(smoke_run / "results/rhythm/zrnn_eval/generalisation.csv")
    assert len(gen_table) == 6 and gen_table["cue"].is_monotonic_increasing
    assert gen["fraction_oscillating"] == pytest.approx(gen_table["oscillating"].mean())
    # the figure inputs: continuation table agrees with the metrics
    table = pd.read_csv(smoke_run / "results/rhythm/zrnn_eval/continuation.csv")
    assert list(table["period_s"]) == params["task"]["periods_s"]
    for _, row in table.iterrows():
        rel = ev["continuation"]["per_tempo"][f"{row['period_s']:g}"]
        if row["oscillating"]:
            assert rel == pytest.approx(row["relative_error"])
        else:
            assert rel is None
    np.testing.assert_allclose(table["cue"], 0.1 / table["period_s"])
    # loss curve behind the loss figure agrees with the training metrics
    curve = pd.read_csv(smoke_run / "results/rhythm/zrnn/loss_curve.csv")
    assert curve["val_mse"].min() == pytest.approx(train["train"]["best_val_mse"])


def test_figure_data_is_the_real_trials(smoke_run) -> None:
    """What the output-vs-target figure draws: held-out trials, one per trained period."""
    task = RhythmTaskConfig.from_params(smoke_params()["rhythm"]["task"])
    with np.load(smoke_run / "results/rhythm/zrnn_eval/traces.npz") as z:
        traces = {k: z[k] for k in z.files}
    np.testing.assert_allclose(traces["periods_s"], task.periods_s)
    inputs, target = build_trials(
        task, torch.as_tensor(traces["periods_s"]), torch.as_tensor(traces["onsets_s"])
    )
    np.testing.assert_allclose(traces["target"], target[..., 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(traces["pulses"], inputs[..., 0].numpy())
    assert traces["output"].shape == traces["target"].shape
    assert np.isfinite(traces["output"]).all()
    for name in (
        "zrnn_outputs",
        "zrnn_loss",
        "zrnn_continuation",
        "zrnn_cue_interval",
        "zrnn_raster",
        "zrnn_pca",
        "zrnn_cycle_lengths",
        "zrnn_flow",
        "reduced_model",
        "prnn_loss",
        "prnn_predicted_vs_true",
        "prnn_traces",
        "prnn_raster",
        "prnn_pca_3d",
        "prnn_pca_2d",
        "prnn_trajectory_stats",
        "izrnn_cue_interval",
        "izrnn_error_split",
        "izrnn_traces",
        "izrnn_finetune",
        "izrnn_raster",
        "izrnn_pca",
        "izrnn_cycle_lengths",
        "izrnn_flow",
    ):
        png = smoke_run / f"results/rhythm/figures/{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dynamics_outputs_are_bounded_and_consistent(smoke_run) -> None:
    dyn = smoke_run / "results/rhythm/zrnn_dynamics"
    metrics = json.loads((dyn / "metrics.json").read_text())
    units = pd.read_csv(dyn / "units.csv")
    assert metrics["n_units"] == len(units) == smoke_params()["rhythm"]["zrnn"]["model"]["n_hidden"]
    assert sum(metrics["unit_classes"].values()) == len(units)
    assert len(metrics["pca"]["explained_variance_ratio"]) == 3
    with np.load(dyn / "figure_data.npz") as z:
        assert z["raster"].dtype == np.float16
        assert sum(z[k].nbytes for k in z.files) < 2_000_000  # never the full hidden state


def test_flow_and_reduced_model_outputs(smoke_run) -> None:
    flow = json.loads((smoke_run / "results/rhythm/zrnn_flow/metrics.json").read_text())
    cues = smoke_params()["rhythm"]["zrnn_flow"]["cues"]
    assert len(flow["per_cue"]) == len(cues)
    regimes = pd.read_csv(smoke_run / "results/rhythm/zrnn_flow/regimes.csv")
    assert list(regimes["cue"]) == cues
    assert list(regimes["regime"]) == [flow["per_cue"][k]["regime"] for k in flow["per_cue"]]
    reduced = json.loads((smoke_run / "results/rhythm/reduced_model/metrics.json").read_text())
    assert 0.17 < reduced["band_low"] < 0.21 and 1.55 < reduced["band_high"] < 1.61
    assert 78 < reduced["period_ms_at_0.5"] < 95 and 65 < reduced["period_ms_at_1.0"] < 75


def test_prnn_and_izrnn_outputs(smoke_run) -> None:
    params = smoke_params()["rhythm"]
    prnn = json.loads((smoke_run / "results/rhythm/prnn_eval/metrics.json").read_text())
    for phase in ("end_of_trial", "end_of_sync"):
        assert {"mae", "r2", "slope", "intercept"} <= set(prnn[phase])
        assert prnn[phase]["n"] == params["prnn"]["task"]["periods"]["n_test"]
    assert np.isfinite(prnn["drift"]["slope_per_s"])
    trials = pd.read_csv(smoke_run / "results/rhythm/prnn_eval/trials.csv")
    assert prnn["end_of_trial"]["mae"] == pytest.approx(
        np.mean(np.abs(trials["end_of_trial_s"] - trials["period_s"])), rel=1e-5
    )
    iz = json.loads((smoke_run / "results/rhythm/izrnn_eval/metrics.json").read_text())
    ev = params["izrnn_eval"]
    assert iz["continuation"]["n_periods"] == len(ev["periods_s"])
    assert set(iz["continuation"]["per_period"]) == {f"{p:g}" for p in ev["periods_s"]}
    assert 0 <= iz["continuation"]["mare"] <= 1 and iz["error_split"]["prnn"] >= 0
    assert 0 <= iz["error_split"]["zrnn"] <= 1
    table = pd.read_csv(smoke_run / "results/rhythm/izrnn_eval/trials.csv")
    assert len(table) == len(ev["periods_s"]) + ev["n_random"]
    listed = table[table["listed"]]
    assert iz["error_split"]["prnn"] == pytest.approx(listed["prnn_rel_error"].abs().mean())
    compose = json.loads((smoke_run / "results/rhythm/izrnn/metrics.json").read_text())
    assert compose["finetune"]["steps"] == params["izrnn"]["finetune"]["steps"]
    # the IZRNN wires the ZRNN retrained on rhythm.izrnn.zrnn_retrain's tempos (default source)
    retrained = params["izrnn"]["zrnn_retrain"]["periods_s"]
    assert compose["zrnn_periods_s"] == pytest.approx(retrained)
    own = json.loads((smoke_run / "results/rhythm/izrnn_zrnn_eval/metrics.json").read_text())
    assert set(own["continuation"]["per_tempo"]) == {f"{p:g}" for p in retrained}
    with np.load(smoke_run / "results/rhythm/izrnn_zrnn_data/val.npz") as val:
        assert set(np.round(val["periods_s"], 6)) == set(np.round(retrained, 6))
    flow = json.loads((smoke_run / "results/rhythm/izrnn_flow/metrics.json").read_text())
    regimes = pd.read_csv(smoke_run / "results/rhythm/izrnn_flow/regimes.csv")
    delivered = [flow["delivered"][f"{p:g}"] for p in ev["flow_periods_s"]]
    np.testing.assert_allclose(regimes["cue"], delivered)  # fields at the cues delivered
    for period, cue in zip(ev["flow_periods_s"], delivered, strict=True):
        row = table[np.isclose(table["period_s"], period)]
        assert cue == pytest.approx(float(row["delivered_cue"].iloc[0]))


def test_nothing_to_do_after_a_run(smoke_run) -> None:
    assert _planned_jobs(smoke_run) == set()


TRAINED_NET_JOBS = {"eval_zrnn", "fig_zrnn_outputs", "zrnn_dynamics", "fig_zrnn_dynamics"}
FLOW_JOBS = {"zrnn_flow", "fig_zrnn_flow"}
IZRNN_EVAL_JOBS = {
    "eval_izrnn",
    "fig_izrnn",
    "izrnn_dynamics",
    "fig_izrnn_dynamics",
    "izrnn_flow",
    "fig_izrnn_flow",
}
IZRNN_JOBS = {"izrnn_compose"} | IZRNN_EVAL_JOBS
PRNN_JOBS = {"train_prnn", "eval_prnn", "fig_prnn"}
# the IZRNN's own ZRNN (rhythm.izrnn.zrnn_source: retrained, the default)
IZRNN_ZRNN_JOBS = {"train_izrnn_zrnn", "eval_izrnn_zrnn"}


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        (
            {"rhythm": {"figures": {"dpi": 61}}},
            {
                "fig_zrnn_outputs",
                "fig_zrnn_dynamics",
                "fig_zrnn_flow",
                "fig_reduced_model",
                "fig_prnn",
                "fig_izrnn",
                "fig_izrnn_dynamics",
                "fig_izrnn_flow",
            },
        ),
        ({"rhythm": {"zrnn_flow": {"seed": 3}}}, FLOW_JOBS | {"izrnn_flow", "fig_izrnn_flow"}),
        ({"rhythm": {"reduced_model": {"seed": 3}}}, {"reduced_model", "fig_reduced_model"}),
        (
            {"rhythm": {"zrnn_eval": {"continuation": {"drive_s": 1.8}}}},
            {"eval_zrnn", "fig_zrnn_outputs", "eval_izrnn_zrnn"},
        ),
        (
            {"rhythm": {"zrnn_eval": {"taps": {"max_cv": 0.2}}}},
            TRAINED_NET_JOBS | IZRNN_EVAL_JOBS | {"eval_izrnn_zrnn"},
        ),
        (
            {"rhythm": {"zrnn_dynamics": {"raster_cycles": 3}}},
            {"zrnn_dynamics", "fig_zrnn_dynamics", "izrnn_dynamics", "fig_izrnn_dynamics"},
        ),
        (
            {"rhythm": {"zrnn": {"train": {"lr": 0.002}}}},
            {"train_zrnn"} | TRAINED_NET_JOBS | FLOW_JOBS | IZRNN_ZRNN_JOBS | IZRNN_JOBS,
        ),
        (
            {"rhythm": {"data": {"test_seed": 7}}},
            {"rhythm_data", "train_zrnn", "izrnn_zrnn_data"}
            | TRAINED_NET_JOBS
            | FLOW_JOBS
            | IZRNN_ZRNN_JOBS
            | IZRNN_JOBS,
        ),
        # the IZRNN's tempo range retrains its own ZRNN, never the study's
        (
            {"rhythm": {"izrnn": {"zrnn_retrain": {"periods_s": [0.3, 0.2]}}}},
            {"izrnn_zrnn_data"} | IZRNN_ZRNN_JOBS | IZRNN_JOBS,
        ),
        # switching the IZRNN to the study's ZRNN reuses it: only the IZRNN reruns
        ({"rhythm": {"izrnn": {"zrnn_source": "rhythm"}}}, IZRNN_JOBS),
        # a PRNN change never retrains the ZRNN
        ({"rhythm": {"prnn": {"train": {"lr": 0.002}}}}, PRNN_JOBS | IZRNN_JOBS),
        ({"rhythm": {"prnn": {"data": {"val_seed": 3}}}}, {"prnn_data"} | PRNN_JOBS | IZRNN_JOBS),
        ({"rhythm": {"prnn_eval": {"drift_skip_s": 0.3}}}, {"eval_prnn", "fig_prnn"}),
        ({"rhythm": {"izrnn": {"wiring": {"gate_pulses": 3}}}}, IZRNN_JOBS),
        ({"rhythm": {"izrnn_eval": {"noise_seed": 3}}}, IZRNN_EVAL_JOBS),
    ],
)
def test_param_edits_rerun_only_downstream(smoke_run, tmp_path, overlay, expected) -> None:
    assert _planned_jobs(smoke_run, overlay, tmp_path) == expected


CONDENSE_METHODS = ("random", "pair_merge", "ls_prune", "svd", "iterative_merge")
CONDENSE_PER_NETWORK = {
    "condense_train_csg",
    "condense_original",
    "condense_size_sweep",
    *(f"condense_reduce_{m}" for m in CONDENSE_METHODS),
}
CONDENSE_ACROSS = {"condense_aggregate", "condense_summary", "fig_condense"}


def test_condense_outputs_cover_every_network(smoke_run) -> None:
    params = smoke_params()["condense"]
    nets = [str(n) for n in params["network_seeds"]]
    assert nets == ["0", "1"]
    res = smoke_run / "results/condense"
    for net in nets:  # each network's draws derive from (base seed, network seed)
        seeds = json.loads((res / f"net{net}/csg/metrics.json").read_text())["seeds"]
        assert seeds["train"] == derive_seed(params["train"]["seed"], int(net))
        assert seeds["evaluation"] == derive_seed(params["evaluation"]["noise_seed"], int(net))
        sweep = json.loads((res / f"net{net}/size_sweep/metrics.json").read_text())
        assert sweep["seeds"]["size_sweep"] == derive_seed(params["size_sweep"]["seed"], int(net))
        assert sweep["sizes"] == params["size_sweep"]["sizes"]
    # two independently trained networks, not one network reused
    assert (res / "net0/csg/model.pt").read_bytes() != (res / "net1/csg/model.pt").read_bytes()
    summary = json.loads((res / "summary/metrics.json").read_text())
    assert summary["n_networks"] == 2 and summary["networks"] == [0, 1]
    assert set(summary["original_pairwise"]) == {"0-1"}
    cka = summary["original_pairwise"]["0-1"]["cka"]
    assert 0.0 <= cka <= 1.0 + 1e-9 and summary["original_cka_median"] == pytest.approx(cka)
    assert set(summary["size_sweep_classes"]) == set(nets)
    table = pd.read_csv(res / "summary/networks.csv")
    assert len(table) == 2 * len(CONDENSE_METHODS)
    for method in CONDENSE_METHODS:
        agg = json.loads((res / f"{method}/metrics.json").read_text())
        per = {n: json.loads((res / f"net{n}/{method}/metrics.json").read_text()) for n in nets}
        # contract keys, now across networks
        assert agg["n_networks"] == 2 and set(agg["per_network"]) == set(nets)
        smallest = [per[n]["smallest_units_within_10pct"] for n in nets]
        scales = [per[n]["still_scales"] for n in nets]
        for n in nets:
            assert agg["per_network"][n]["smallest_units_within_10pct"] == smallest[int(n)]
            assert agg["per_network"][n]["still_scales"] == scales[int(n)]
            assert per[n]["seeds"]["finetune"] == derive_seed(params["finetune"]["seed"], int(n))
        assert agg["smallest_units_within_10pct"] == median_smallest(smallest)
        if None not in smallest:
            assert agg["smallest_units_within_10pct"] == pytest.approx(sum(smallest) / 2)
        assert agg["still_scales"] is all(scales)  # strict majority of two = both
        assert agg["fraction_within"] == pytest.approx(sum(v is not None for v in smallest) / 2)
        assert agg["fraction_still_scales"] == pytest.approx(sum(scales) / 2)
        rows = table[table["method"] == method].sort_values("network")
        assert list(rows["network"]) == [0, 1]
        row = summary["methods"][method]
        assert row["n_networks"] == 2 and row["n_still_scales"] == sum(scales)
    for name in (
        "performance",
        "similarity",
        "ramps_pca",
        "fixed_points",
        "size_sweep",
        "networks",
    ):
        png = res / f"figures/condense_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the single-network layout is gone
    for old in ("csg", "original", "size_sweep"):
        assert not (res / old).exists()


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        # a new network runs only its own stages plus the across-network ones
        (
            {"condense": {"network_seeds": [0, 1, 2]}},
            {**{r: 1 for r in CONDENSE_PER_NETWORK}, **{r: 1 for r in CONDENSE_ACROSS}},
        ),
        # dropping a network recomputes only the across-network stages
        ({"condense": {"network_seeds": [1]}}, {r: 1 for r in CONDENSE_ACROSS}),
        # one method's params: that method for every network, then the aggregates
        (
            {"condense": {"reduce": {"svd": {"ranks": [3, 2]}}}},
            {"condense_reduce_svd": 2, **{r: 1 for r in CONDENSE_ACROSS}},
        ),
        # training: everything of the study for both networks, nothing of any other study
        (
            {"condense": {"train": {"lr": 0.003}}},
            {**{r: 2 for r in CONDENSE_PER_NETWORK}, **{r: 1 for r in CONDENSE_ACROSS}},
        ),
        ({"condense": {"figures": {"dpi": 61}}}, {"fig_condense": 1}),
    ],
)
def test_condense_param_edits_rerun_only_their_networks(
    smoke_run, tmp_path, overlay, expected
) -> None:
    assert _planned_counts(smoke_run, overlay, tmp_path) == expected
