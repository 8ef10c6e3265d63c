"""Params are validated before anything runs; messages name the key and the allowed range."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import ROOT, copy_project, run

from rnnlab.cli import main as cli_main
from rnnlab.params import ParamsError, load_params, validate_params

PRESETS = sorted((ROOT / "workflow" / "presets").glob("*.yaml"))


def _defaults() -> dict:
    return load_params(ROOT / "params.yaml")


@pytest.mark.parametrize("preset", [None, *PRESETS], ids=lambda p: getattr(p, "stem", "default"))
def test_shipped_params_and_presets_are_valid(preset) -> None:
    params = load_params(ROOT / "params.yaml", *([preset] if preset else []))
    assert params["rhythm"]["zrnn"]["model"]["n_hidden"] >= 2


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("rhythm", "zrnn", "train", "lr"), -0.1, r"rhythm\.zrnn\.train\.lr = -0\.1.*0 < value"),
        (("rhythm", "zrnn", "train", "lr"), "fast", r"rhythm\.zrnn\.train\.lr = 'fast'.*number"),
        (("rhythm", "zrnn", "model", "e_fraction"), 1.5, r"e_fraction = 1\.5.*value <= 1"),
        (("rhythm", "zrnn", "train", "batch_size"), 2.5, r"batch_size = 2\.5.*integer"),
        (("rhythm", "zrnn", "train", "device"), "tpu", r"device = 'tpu'.*auto, cpu, cuda"),
        (("rhythm", "task", "periods_s"), [], r"periods_s = \[\].*"),
    ],
)
def test_bad_value_names_key_and_range(path, value, expected) -> None:
    params = copy.deepcopy(_defaults())
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ParamsError, match=expected):
        validate_params(params)


def test_missing_and_unknown_keys_are_named() -> None:
    params = copy.deepcopy(_defaults())
    del params["rhythm"]["data"]["val_seed"]
    params["rhythm"]["zrnn"]["train"]["learning_rate"] = 0.1
    with pytest.raises(ParamsError) as err:
        validate_params(params)
    text = str(err.value)
    assert "rhythm.data.val_seed: missing required key" in text
    assert "rhythm.zrnn.train" in text and "'learning_rate' was unexpected" in text


def test_cross_field_rules() -> None:
    params = copy.deepcopy(_defaults())
    params["rhythm"]["zrnn_eval"]["continuation"]["discard_s"] = 50.0
    with pytest.raises(ParamsError, match="discard_s must be < drive_s"):
        validate_params(params)
    params = copy.deepcopy(_defaults())
    params["rhythm"]["zrnn"]["model"]["tau_s"] = 0.0005
    with pytest.raises(ParamsError, match=r"tau_s = 0\.0005 must be >= rhythm\.task\.dt_s"):
        validate_params(params)


def test_snakemake_refuses_bad_params_before_running_anything(tmp_path) -> None:
    work = copy_project(tmp_path / "proj")
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(yaml.safe_dump({"rhythm": {"zrnn": {"train": {"max_steps": -5}}}}))
    proc = run(["snakemake", "-n", "--configfile", str(overlay)], cwd=work, check=False)
    assert proc.returncode != 0
    assert "rhythm.zrnn.train.max_steps = -5" in proc.stdout + proc.stderr
    assert not (work / "results").exists()


def test_cli_validate_exit_codes(tmp_path, capsys) -> None:
    assert cli_main(["validate", "--params", str(ROOT / "params.yaml")]) == 0
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(yaml.safe_dump({"rhythm": {"figures": {"dpi": 5}}}))
    assert (
        cli_main(["validate", "--params", str(ROOT / "params.yaml"), "--overlay", str(overlay)])
        == 2
    )
    assert "rhythm.figures.dpi = 5" in capsys.readouterr().err
