"""Multi-area (E/I) structure masks: densities, signs, routing, validation, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.models.ctrnn import CTRNN, CTRNNConfig
from rnnlab.models.structure import (
    area_connectivity,
    ctrnn_masks,
    multi_area_ei_masks,
    multi_area_masks,
)

SIZES = [120, 100, 80]  # 300 units
P_FWD, P_BWD, P_WITHIN = 0.3, 0.1, 0.6


def _blocks(sizes):
    b = np.concatenate([[0], np.cumsum(sizes)])
    return [slice(b[k], b[k + 1]) for k in range(len(sizes))]


def _make(seed=0, **kw):
    return multi_area_masks(
        SIZES,
        P_FWD,
        P_BWD,
        P_WITHIN,
        n_input=3,
        n_output=2,
        generator=np.random.default_rng(seed),
        **kw,
    )


def test_area_connectivity_orientation():
    conn = area_connectivity(3, 0.3, 0.1, 0.6)
    # [post, pre]: below the diagonal = from a lower- to a higher-index area = forward.
    np.testing.assert_allclose(conn, [[0.6, 0.1, 0.1], [0.3, 0.6, 0.1], [0.3, 0.3, 0.6]])


def test_block_densities_within_sampling_error():
    m = _make(seed=1)
    rec, blocks = m["rec"], _blocks(SIZES)
    assert rec.shape == (300, 300) and rec.dtype == np.float32
    assert set(np.unique(rec)) <= {0.0, 1.0}
    for i, bi in enumerate(blocks):
        for j, bj in enumerate(blocks):
            p = P_WITHIN if i == j else (P_FWD if j < i else P_BWD)
            block = rec[bi, bj]
            se = np.sqrt(p * (1 - p) / block.size)
            assert abs(block.mean() - p) < 5 * se, (i, j, block.mean(), p)


def test_zero_and_one_probabilities_are_exact():
    m = multi_area_masks(
        [4, 5, 6], 1.0, 0.0, 1.0, n_input=1, n_output=1, generator=np.random.default_rng(0)
    )
    expected = np.tril(np.ones((15, 15)))  # within full, forward full, backward empty
    for s in _blocks([4, 5, 6]):
        expected[s, s] = 1.0
    np.testing.assert_array_equal(m["rec"], expected)


def test_autapses_flag():
    assert np.all(np.diag(_make(autapses=False)["rec"]) == 0)
    full = multi_area_masks(
        [5], 0.0, 0.0, 1.0, n_input=1, n_output=1, generator=np.random.default_rng(0)
    )
    assert np.all(np.diag(full["rec"]) == 1)  # nn4n keeps the diagonal


def test_input_and_readout_areas():
    m = _make(input_areas=(0, 1), readout_areas=(-1,))
    areas = m["areas"]
    np.testing.assert_array_equal(areas, np.repeat([0, 1, 2], SIZES))
    assert m["in"].shape == (300, 3) and m["out"].shape == (2, 300)
    np.testing.assert_array_equal(m["in"], np.repeat((areas <= 1)[:, None], 3, axis=1))
    np.testing.assert_array_equal(m["out"], np.repeat((areas == 2)[None, :], 2, axis=0))
    everywhere = _make(input_areas=None, readout_areas=None)
    assert everywhere["in"].all() and everywhere["out"].all()


def test_seeded_reproducibility():
    a, b, c = _make(seed=7), _make(seed=7), _make(seed=8)
    for key in ("rec", "in", "out", "areas"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["rec"], c["rec"])
    ea = multi_area_ei_masks(
        SIZES, 0.2, 0.2, n_input=1, n_output=1, generator=np.random.default_rng(3)
    )
    eb = multi_area_ei_masks(
        SIZES, 0.2, 0.2, n_input=1, n_output=1, generator=np.random.default_rng(3)
    )
    np.testing.assert_array_equal(ea["rec_sign"], eb["rec_sign"])


def _ei(seed=0, **kw):
    kw.setdefault("e_fraction", 0.8)
    return multi_area_ei_masks(
        [10, 20, 15],
        0.5,
        0.5,
        1.0,
        n_input=2,
        n_output=3,
        generator=np.random.default_rng(seed),
        **kw,
    )


def test_ei_column_signs_area_order():
    m = _ei(e_fraction=[0.8, 0.75, 0.6])
    # per area: floor(size·e) E units first, then I (nn4n MultiAreaEI)
    expected = np.concatenate([[1] * 8 + [-1] * 2, [1] * 15 + [-1] * 5, [1] * 9 + [-1] * 6])
    np.testing.assert_array_equal(m["signs"], expected)
    assert m["e_fraction"] == pytest.approx(32 / 45)
    np.testing.assert_array_equal(m["order"], np.arange(45))
    rs = m["rec_sign"]
    np.testing.assert_array_equal(np.abs(rs), m["rec"])
    assert np.all(rs[:, m["signs"] > 0] >= 0) and np.all(rs[:, m["signs"] < 0] <= 0)
    np.testing.assert_array_equal(m["out_sign"], m["out"] * m["signs"][None, :])
    assert np.all(m["in"] >= 0)


def test_ei_float_rounding_does_not_drop_a_unit():
    m = multi_area_ei_masks(
        [100], 0.0, 0.0, n_input=1, n_output=1, e_fraction=0.29, generator=np.random.default_rng(0)
    )
    assert int((m["signs"] > 0).sum()) == 29  # nn4n's int(100 * 0.29) would give 28


def test_dale_order_matches_ctrnn_signs_and_relabels_same_draws():
    area = _ei(seed=4, e_fraction=[0.8, 0.75, 0.6])
    dale = _ei(seed=4, e_fraction=[0.8, 0.75, 0.6], unit_order="dale")
    n = 45
    n_e = int((dale["signs"] > 0).sum())
    np.testing.assert_array_equal(dale["signs"], [1] * n_e + [-1] * (n - n_e))
    # E units grouped by area, then I units grouped by area
    assert list(dale["areas"][:n_e]) == sorted(dale["areas"][:n_e])
    assert list(dale["areas"][n_e:]) == sorted(dale["areas"][n_e:])
    o = dale["order"]
    np.testing.assert_array_equal(dale["rec"], area["rec"][np.ix_(o, o)])
    np.testing.assert_array_equal(dale["in"], area["in"][o])
    np.testing.assert_array_equal(dale["out"], area["out"][:, o])
    np.testing.assert_array_equal(dale["areas"], area["areas"][o])
    cfg = CTRNNConfig(
        n_input=2,
        n_hidden=n,
        n_output=3,
        e_fraction=dale["e_fraction"],
        dale="project",
        autapses=True,
    )
    model = CTRNN(cfg, generator=torch.Generator().manual_seed(0), masks=ctrnn_masks(dale))
    np.testing.assert_array_equal(model.signs.numpy(), dale["signs"])
    w = model.effective_weights()["rec"].detach().numpy()
    assert np.all(w[:, dale["signs"] > 0] >= 0) and np.all(w[:, dale["signs"] < 0] <= 0)
    assert np.all(w[dale["rec"] == 0] == 0)


def test_inter_area_and_inh_readout():
    m = _ei(inter_area=(False, True, True, False), inh_readout=False)
    e, areas = m["signs"] > 0, m["areas"]
    other = areas[:, None] != areas[None, :]
    rec = m["rec"]
    assert not rec[other & e[:, None] & e[None, :]].any()  # E -> E between areas removed
    assert not rec[other & ~e[:, None] & ~e[None, :]].any()  # I -> I removed
    assert rec[other & ~e[:, None] & e[None, :]].any()  # E -> I kept
    assert rec[other & e[:, None] & ~e[None, :]].any()  # I -> E kept
    assert rec[~other & e[:, None] & e[None, :]].all()  # within-area untouched (p = 1)
    assert not m["out"][:, ~e].any() and m["out"][:, e & (areas == 2)].all()
    m2 = _ei(inter_area=(True, False, False, True))
    e2, other2 = m2["signs"] > 0, m2["areas"][:, None] != m2["areas"][None, :]
    assert not m2["rec"][other2 & ~e2[:, None] & e2[None, :]].any()  # E -> I (post I, pre E)
    assert not m2["rec"][other2 & e2[:, None] & ~e2[None, :]].any()  # I -> E


def test_ctrnn_masks_selects_known_keys():
    m = _ei()
    assert set(ctrnn_masks(m)) == {"rec", "in", "out"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"area_sizes": []}, "at least one area"),
        ({"area_sizes": [10, 0]}, "positive integer"),
        ({"area_sizes": [10, 2.5]}, "positive integer"),
        ({"p_forward": 1.5}, "p_forward"),
        ({"p_backward": -0.1}, "p_backward"),
        ({"p_within": float("nan")}, "p_within"),
        ({"input_areas": (3,)}, "out of range"),
        ({"readout_areas": (-4,)}, "out of range"),
        ({"input_areas": ()}, "at least one area"),
        ({"n_input": 0}, "n_input"),
        ({"n_output": 0}, "n_output"),
    ],
)
def test_bad_inputs_raise(kwargs, match):
    args = {
        "area_sizes": [10, 10, 10],
        "p_forward": 0.1,
        "p_backward": 0.1,
        "n_input": 1,
        "n_output": 1,
        "generator": np.random.default_rng(0),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        multi_area_masks(**args)
    with pytest.raises(ValueError, match=match):
        multi_area_ei_masks(**args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"e_fraction": 1.2}, "e_fraction"),
        ({"e_fraction": -0.1}, "e_fraction"),
        ({"e_fraction": [0.8, 0.8]}, "one value per area"),
        ({"inter_area": (True, True)}, "4 flags"),
        ({"unit_order": "random"}, "unit_order"),
    ],
)
def test_bad_ei_inputs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        multi_area_ei_masks(
            [10, 10, 10],
            0.1,
            0.1,
            n_input=1,
            n_output=1,
            generator=np.random.default_rng(0),
            **kwargs,
        )


def test_generator_must_be_numpy_generator():
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        multi_area_masks([5], 0.1, 0.1, n_input=1, n_output=1, generator=0)  # type: ignore[arg-type]
