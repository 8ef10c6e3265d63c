"""Across-network aggregation of the condense study and the per-network seed derivation,
on constructed inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.analysis.condense_aggregate import (
    aggregate_method,
    aggregate_stage,
    median_smallest,
    strict_majority,
)
from rnnlab.analysis.condense_stage import network_sections
from rnnlab.io import read_json, write_json
from rnnlab.seeds import derive_seed, with_network_seed


# --- seeds --------------------------------------------------------------------------------
def test_derive_seed_is_seedsequence_of_base_and_network() -> None:
    # pinned: changing the derivation silently changes every network of every study
    assert derive_seed(0, 0) == 2_968_811_710
    assert derive_seed(5, 2) == int(
        np.random.SeedSequence([5, 2]).generate_state(1, dtype=np.uint32)[0]
    )
    assert derive_seed(5, 2) == derive_seed(5, 2)  # deterministic
    seeds = {derive_seed(base, net) for base in range(4) for net in range(4)}
    assert len(seeds) == 16  # no two (base, network) pairs share a stream
    assert derive_seed(0, 0) != 0 and derive_seed(11, 0) != 11  # network 0 is not the old one
    assert all(0 <= s < 2**32 for s in seeds)
    with pytest.raises(ValueError, match="seeds must be >= 0"):
        derive_seed(-1, 0)


def test_with_network_seed_derives_only_the_named_key() -> None:
    section = {"seed": 3, "lr": 0.1, "fixed_points": {"seed": 7, "n": 2}}
    out = with_network_seed(section, "fixed_points.seed", 4)
    assert out["fixed_points"]["seed"] == derive_seed(7, 4)
    assert out["seed"] == 3 and out["fixed_points"]["n"] == 2 and out["lr"] == 0.1
    assert section["fixed_points"]["seed"] == 7  # input untouched
    assert with_network_seed(section, "seed", None) == section  # single-network behaviour


def test_network_sections_records_every_derived_seed() -> None:
    sec, seeds = network_sections(
        2,
        train={"seed": 0},
        finetune={"seed": 11},
        evaluation={"noise_seed": 7},
        battery={"fixed_points": {"seed": 3}},
        method={"sizes": [4]},  # a method without a seed draws nothing: left alone
    )
    assert seeds == {
        "network": 2,
        "train": derive_seed(0, 2),
        "finetune": derive_seed(11, 2),
        "evaluation": derive_seed(7, 2),
        "battery": derive_seed(3, 2),
    }
    assert sec["train"]["seed"] == derive_seed(0, 2) and sec["method"] == {"sizes": [4]}
    # two networks never share a draw
    _, other = network_sections(3, train={"seed": 0})
    assert other["train"] != seeds["train"]


# --- median / majority --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([60], 60),
        ([None], None),
        ([30, 60, 90], 60),
        ([90, 30, 60], 60),  # order does not matter
        ([30, 60, None], 60),  # never ranks above every size
        ([30, None, None], None),  # the median network never gets within
        ([60, 60, 15], 60),  # ties
        ([30, 60], 45),  # even count: mean of the two middle values
        ([30, 45], 37.5),
        ([45, 45], 45),
        ([30, None], None),  # a middle value that is never makes the median never
        ([None, None], None),
        ([15, 30, 60, None], 45),
        ([15, 30, None, None], None),
    ],
)
def test_median_smallest(values, expected) -> None:
    got = median_smallest(values)
    assert got == expected
    if expected is not None and float(expected).is_integer():
        assert isinstance(got, int)


def test_median_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        median_smallest([])
    with pytest.raises(ValueError):
        strict_majority([])


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([True], True),
        ([False], False),
        ([True, False], False),  # a tie is not a majority
        ([True, True], True),
        ([True, True, False], True),
        ([True, False, False], False),
        ([True, True, False, False], False),
        ([True, True, True, False, False], True),
    ],
)
def test_strict_majority(flags, expected) -> None:
    assert strict_majority(flags) is expected


# --- one method over networks ---------------------------------------------------------------
def _net(smallest, scales, cls, cka, before=None):
    return {
        "method": "ls_prune",
        "size_axis": "units",
        "smallest_units_within_10pct": smallest,
        "smallest_units_within_10pct_before_finetune": before,
        "still_scales": scales,
        "same_class_as_original": scales,
        "selected_size": smallest if smallest is not None else 90,
        "original_task_error": 0.01,
        "original_class": "scaling",
        "selected": {"solution_class": cls, "mare": 0.02, "cka_to_original": cka},
    }


def test_aggregate_method_known_answer() -> None:
    per_network = {
        "10": _net(None, False, "ramp", 0.2),
        "0": _net(60, True, "scaling", 0.9, before=75),
        "2": _net(30, True, "scaling", 0.8, before=None),
    }
    agg = aggregate_method(per_network)
    assert agg["networks"] == [0, 2, 10]  # sorted numerically, not as strings
    assert agg["n_networks"] == 3
    assert agg["smallest_units_within_10pct"] == 60  # sorted 30, 60, never
    assert agg["smallest_units_within_10pct_before_finetune"] is None  # 75, never, never
    assert agg["still_scales"] is True  # 2 of 3
    assert agg["n_within"] == 2 and agg["fraction_within"] == pytest.approx(2 / 3)
    assert agg["n_still_scales"] == 2 and agg["fraction_still_scales"] == pytest.approx(2 / 3)
    assert agg["selected_classes"] == {"ramp": 1, "scaling": 2}
    assert agg["median_cka_to_original"] == pytest.approx(0.8)
    assert set(agg["per_network"]) == {"0", "2", "10"}
    assert agg["per_network"]["10"]["smallest_units_within_10pct"] is None
    assert agg["per_network"]["0"]["smallest_units_within_10pct"] == 60
    assert agg["per_network"]["2"]["cka_to_original"] == 0.8


def test_aggregate_method_tie_is_not_a_majority() -> None:
    agg = aggregate_method({"0": _net(45, True, "scaling", 0.5), "1": _net(15, False, "ramp", 0.3)})
    assert agg["still_scales"] is False and agg["fraction_still_scales"] == 0.5
    assert agg["smallest_units_within_10pct"] == 30
    assert agg["median_cka_to_original"] == pytest.approx(0.4)


def test_aggregate_stage_writes_contract_files(tmp_path) -> None:
    paths = {}
    for seed, value in (("0", 60), ("1", None), ("2", None)):
        p = tmp_path / f"net{seed}" / "ls_prune" / "metrics.json"
        write_json(p, _net(value, value is not None, "scaling", 0.7))
        paths[seed] = str(p)
    out = tmp_path / "ls_prune" / "metrics.json"
    aggregate_stage({"ls_prune": paths}, {"ls_prune": str(out)})
    on_disk = read_json(out)
    assert on_disk["smallest_units_within_10pct"] is None  # 60, never, never
    assert on_disk["still_scales"] is False and on_disk["n_still_scales"] == 1
    assert on_disk["fraction_within"] == pytest.approx(1 / 3)
    assert on_disk["n_networks"] == 3 and list(on_disk["per_network"]) == ["0", "1", "2"]
