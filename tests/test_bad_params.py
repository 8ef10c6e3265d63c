"""A table of malformed params: each is rejected before any job runs, naming the key."""

from __future__ import annotations

import copy

import pytest
from conftest import ROOT

from rnnlab.cli import main as cli_main
from rnnlab.params import ParamsError, load_params, validate_params

BASE = load_params(ROOT / "params.yaml")
DROP = object()

# (dotted key, bad value or DROP, text the message must contain)
CASES = [
    ("rhythm", DROP, "rhythm: missing required key"),
    ("rhythm.task", DROP, "rhythm.task: missing required key"),
    ("rhythm.zrnn.model", DROP, "rhythm.zrnn.model: missing required key"),
    ("rhythm.task.periods_s", [], "rhythm.task.periods_s"),
    ("rhythm.task.periods_s", [0.2, 0.0], "rhythm.task.periods_s.1 = 0.0"),
    ("rhythm.task.periods_s", [0.2, -0.5], "rhythm.task.periods_s.1 = -0.5"),
    ("rhythm.task.periods_s", "0.5", "rhythm.task.periods_s = '0.5'"),
    ("rhythm.task.periods_s", [float("nan")], "rhythm.task.periods_s.0 = nan"),
    ("rhythm.task.dt_s", 0, "rhythm.task.dt_s = 0"),
    ("rhythm.task.dt_s", None, "rhythm.task.dt_s = None"),
    ("rhythm.task.duration_s", 1e9, "rhythm.task.duration_s = 1000000000.0"),
    ("rhythm.task.duration_s", float("inf"), "rhythm.task.duration_s = inf"),
    ("rhythm.task.sync_window_s", -1.0, "rhythm.task.sync_window_s = -1.0"),
    ("rhythm.task.onset_max_s", "soon", "rhythm.task.onset_max_s = 'soon'"),
    ("rhythm.task.cue_scale", True, "rhythm.task.cue_scale = True"),
    ("rhythm.data.val_trials_per_period", 0, "rhythm.data.val_trials_per_period = 0"),
    ("rhythm.data.val_trials_per_period", 10**9, "val_trials_per_period = 1000000000"),
    ("rhythm.data.val_seed", -1, "rhythm.data.val_seed = -1"),
    ("rhythm.data.test_seed", 1.5, "rhythm.data.test_seed = 1.5"),
    ("rhythm.zrnn.model.n_hidden", -10, "rhythm.zrnn.model.n_hidden = -10"),
    ("rhythm.zrnn.model.n_hidden", 10**8, "rhythm.zrnn.model.n_hidden = 100000000"),
    ("rhythm.zrnn.model.tau_s", 0.0, "rhythm.zrnn.model.tau_s = 0.0"),
    ("rhythm.zrnn.model.e_fraction", -0.1, "rhythm.zrnn.model.e_fraction = -0.1"),
    ("rhythm.zrnn.model.sigma_rec", float("nan"), "rhythm.zrnn.model.sigma_rec = nan"),
    ("rhythm.zrnn.model.frozen_zero_init", "yes", "frozen_zero_init = 'yes'"),
    ("rhythm.zrnn.model.unknown_knob", 3, "'unknown_knob' was unexpected"),
    ("rhythm.zrnn.train.batch_size", 0, "rhythm.zrnn.train.batch_size = 0"),
    ("rhythm.zrnn.train.batch_size", 10**7, "rhythm.zrnn.train.batch_size = 10000000"),
    ("rhythm.zrnn.train.lr", 0.0, "rhythm.zrnn.train.lr = 0.0"),
    ("rhythm.zrnn.train.lr", 5.0, "rhythm.zrnn.train.lr = 5.0"),
    ("rhythm.zrnn.train.max_steps", -1, "rhythm.zrnn.train.max_steps = -1"),
    ("rhythm.zrnn.train.val_every", 0, "rhythm.zrnn.train.val_every = 0"),
    ("rhythm.zrnn.train.select_by", "loss", "rhythm.zrnn.train.select_by = 'loss'"),
    ("rhythm.zrnn.train.device", "gpu0", "rhythm.zrnn.train.device = 'gpu0'"),
    ("rhythm.zrnn_eval.continuation.drive_s", 0.0, "continuation.drive_s = 0.0"),
    ("rhythm.zrnn_eval.generalisation.n_cues", 1, "generalisation.n_cues = 1"),
    ("rhythm.zrnn_eval.taps.max_cv", -0.1, "rhythm.zrnn_eval.taps.max_cv = -0.1"),
    ("rhythm.zrnn_dynamics.normalisation", "zscore", "normalisation = 'zscore'"),
    ("rhythm.reduced_model.initial_state", [0.1, 0.1], "initial_state = [0.1, 0.1]"),
    ("rhythm.reduced_model.bifurcation.n", 1, "bifurcation.n = 1"),
    ("rhythm.figures.dpi", 10, "rhythm.figures.dpi = 10"),
    ("rhythm.figures.colour", "red", "'colour' was unexpected"),
    ("plasticity", {"x": 1}, "'plasticity' was unexpected"),
]
CROSS_FIELD = [
    ({"rhythm.task.onset_min_s": 0.5, "rhythm.task.onset_max_s": 0.1}, "onset_min_s must be <="),
    ({"rhythm.zrnn_eval.continuation.discard_s": 20.0}, "discard_s must be < drive_s"),
    ({"rhythm.zrnn_dynamics.reference_period_s": 0.3}, "reference_period_s = 0.3 must be one of"),
    ({"rhythm.zrnn_eval.generalisation.cue_min": 0.99}, "cue_min must be < cue_max"),
    ({"rhythm.reduced_model.bifurcation.i_min": 3.0}, "bifurcation.i_min must be < i_max"),
]


def _with(changes: dict[str, object]) -> dict:
    params = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = params
        for key in parents:
            node = node[key]
        if value is DROP:
            del node[leaf]
        else:
            node[leaf] = value
    return params


def test_table_is_large_enough() -> None:
    assert len(CASES) + len(CROSS_FIELD) >= 30


@pytest.mark.parametrize(("key", "value", "expected"), CASES, ids=[c[0] for c in CASES])
def test_malformed_value_is_rejected_naming_the_key(key, value, expected) -> None:
    with pytest.raises(ParamsError) as err:
        validate_params(_with({key: value}))
    assert expected in str(err.value)


@pytest.mark.parametrize(("changes", "expected"), CROSS_FIELD)
def test_cross_field_violations(changes, expected) -> None:
    with pytest.raises(ParamsError, match=expected):
        validate_params(_with(changes))


@pytest.mark.parametrize(
    "argv",
    [[], ["train"], ["train", "prnn"], ["validate", "--params"], ["dvc-sync", "--bogus"]],
)
def test_cli_misuse_is_a_usage_error_not_a_traceback(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(argv)
    assert exit_info.value.code == 2
    assert "usage: rnnlab" in capsys.readouterr().err


def test_missing_params_file_is_a_clear_error(tmp_path, capsys) -> None:
    assert cli_main(["validate", "--params", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err
