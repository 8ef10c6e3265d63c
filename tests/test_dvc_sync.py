"""dvc.yaml is generated from the Snakefile; the committed file must equal the generated one."""

from __future__ import annotations

import yaml
from conftest import ROOT, copy_project

from rnnlab.pipeline.dvcsync import generate, load_rules, render, sync


def test_committed_dvc_yaml_is_generated_from_snakefile() -> None:
    assert (ROOT / "dvc.yaml").read_text() == render(generate(ROOT)), (
        "dvc.yaml is out of date: run `rnnlab dvc-sync` and commit it"
    )


def test_stages_mirror_rules_and_their_params() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert {"rhythm_data", "train_zrnn", "eval_zrnn", "fig_zrnn_outputs"} <= set(stages)
    assert stages["zrnn_dynamics"]["params"] == ["rhythm.zrnn_dynamics", "rhythm.zrnn_eval.taps"]
    assert stages["rhythm_data"]["params"] == ["rhythm.task", "rhythm.data"]
    assert stages["train_zrnn"]["params"] == ["rhythm.task", "rhythm.zrnn"]
    assert stages["eval_zrnn"]["params"] == ["rhythm.zrnn_eval"]
    assert stages["fig_zrnn_outputs"]["params"] == ["rhythm.figures"]
    rule_of = {info.stage: info.name for info in load_rules(ROOT)}
    assert set(rule_of) == set(stages)
    for name, stage in stages.items():  # a wildcard rule's stages: <rule>_<wildcard><value>
        assert name == rule_of[name] or name.startswith(f"{rule_of[name]}_")
        assert stage["cmd"].startswith(f"snakemake --cores all --allowed-rules {rule_of[name]} -- ")
    # code deps are exact: the figure stage does not depend on the model code
    assert "src/rnnlab/models/ctrnn.py" in stages["train_zrnn"]["deps"]
    assert "src/rnnlab/models/ctrnn.py" not in stages["fig_zrnn_outputs"]["deps"]
    assert {"results/rhythm/zrnn/metrics.json": {"cache": False}} in stages["train_zrnn"]["metrics"]


def test_check_detects_drift(tmp_path) -> None:
    work = copy_project(tmp_path / "p")
    assert sync(work, check=True)
    smk = work / "workflow" / "rules" / "rhythm.smk"
    smk.write_text(smk.read_text().replace('        data=section("rhythm/data"),\n', ""))
    assert not sync(work, check=True)
    sync(work)
    assert yaml.safe_load((work / "dvc.yaml").read_text())["stages"]["rhythm_data"]["params"] == [
        "rhythm.task"
    ]
