"""Parallel chunked noise (rnnlab.models.noise) and the allocator settings (rnnlab.allocator)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats

from rnnlab.models import noise
from rnnlab.models.noise import CHUNK_ELEMENTS, standard_normal


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_same_seed_same_numbers_on_any_thread_count(restore_threads) -> None:
    shape = (3, CHUNK_ELEMENTS // 2 + 7)  # spans two chunks, the last one partial
    draws = []
    for threads in (1, 2, 4):
        torch.set_num_threads(threads)
        draws.append(standard_normal(shape, torch.Generator().manual_seed(5)))
    assert draws[0].shape == shape and draws[0].dtype == torch.float32
    assert torch.equal(draws[0], draws[1]) and torch.equal(draws[0], draws[2])


def test_generator_state_advances_and_seeds_differ() -> None:
    gen = torch.Generator().manual_seed(0)
    first = standard_normal((100,), gen)
    second = standard_normal((100,), gen)
    other_seed = standard_normal((100,), torch.Generator().manual_seed(1))
    assert not torch.equal(first, second)
    assert not torch.equal(first, other_seed)


def test_draws_are_standard_normal_and_chunks_independent() -> None:
    draws = standard_normal((4 * CHUNK_ELEMENTS,), torch.Generator().manual_seed(3)).double()
    values = draws.numpy()
    assert abs(values.mean()) < 5 * (1 / np.sqrt(values.size))
    assert abs(values.std() - 1.0) < 3e-3
    # Kolmogorov-Smirnov on a subsample against N(0, 1)
    assert stats.kstest(values[::97], "norm").pvalue > 1e-3
    chunks = draws.view(4, CHUNK_ELEMENTS)
    corr = np.corrcoef(chunks.numpy())
    off_diagonal = corr[~np.eye(4, dtype=bool)]
    assert np.abs(off_diagonal).max() < 5 / np.sqrt(CHUNK_ELEMENTS)
    assert not torch.equal(chunks[0], chunks[1])  # each chunk has its own stream


def test_empty_and_dtype() -> None:
    gen = torch.Generator().manual_seed(0)
    assert standard_normal((0, 4), gen).shape == (0, 4)
    assert standard_normal((5,), gen, dtype=torch.float64).dtype == torch.float64


def test_ctrnn_noise_is_seeded_and_thread_independent(restore_threads) -> None:
    from rnnlab.models.ctrnn import CTRNN, CTRNNConfig

    cfg = CTRNNConfig(n_input=2, n_hidden=64, n_output=1, sigma_rec=0.1, sigma_in=0.05)
    model = CTRNN(cfg, generator=torch.Generator().manual_seed(0)).train()
    inputs = torch.rand(8, CHUNK_ELEMENTS // (8 * 64) + 50, 2)  # noise spans two chunks
    outs = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        outs.append(model(inputs, noise_generator=torch.Generator().manual_seed(9))[1])
    assert torch.equal(outs[0], outs[1])
    noiseless = model(inputs)[1]
    assert not torch.allclose(outs[0], noiseless)


def test_pool_is_reused() -> None:
    standard_normal((3 * CHUNK_ELEMENTS,), torch.Generator().manual_seed(0))
    pools = dict(noise._pools)
    standard_normal((3 * CHUNK_ELEMENTS,), torch.Generator().manual_seed(0))
    assert noise._pools == pools


_ALLOCATOR_PROBE = (
    "import json; from rnnlab.allocator import tune_malloc; print(json.dumps(tune_malloc()))"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt only")
def test_tune_malloc_applies_once_and_can_be_turned_off() -> None:
    env = dict(os.environ)
    env.pop("RNNLAB_TUNE_MALLOC", None)
    on = subprocess.run(
        [sys.executable, "-c", _ALLOCATOR_PROBE], capture_output=True, text=True, env=env
    )
    assert on.returncode == 0, on.stderr
    applied = json.loads(on.stdout)
    assert applied.get("trim_threshold") == (1 << 31) - 1
    assert "mmap_threshold" in applied or applied.get("mmap_max") == 0
    off = subprocess.run(
        [sys.executable, "-c", _ALLOCATOR_PROBE],
        capture_output=True,
        text=True,
        env={**env, "RNNLAB_TUNE_MALLOC": "0"},
    )
    assert off.returncode == 0 and off.stdout.strip() == "{}"


_PAGE_FAULT_PROBE = """
import ctypes, resource, sys
from rnnlab.pipeline.logs import setup_logging
if sys.argv[1] == "setup":
    setup_logging()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
size = 32 << 20  # glibc's default serves this with a fresh mmap every time
faults = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffer = libc.malloc(size)
    ctypes.memset(buffer, 1, size)
    libc.free(buffer)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(min(faults[1:]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt only")
def test_every_stage_reuses_large_buffers_after_setup_logging() -> None:
    """Rule scripts start with setup_logging, so freed 32-MiB buffers are reused, not re-faulted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "RNNLAB_TUNE"))}
    pages = (32 << 20) // resource.getpagesize()

    def faults(mode: str, extra: dict[str, str]) -> int:
        run = subprocess.run(
            [sys.executable, "-c", _PAGE_FAULT_PROBE, mode],
            capture_output=True,
            text=True,
            env={**env, **extra},
        )
        assert run.returncode == 0, run.stderr
        return int(run.stdout.strip())

    assert faults("setup", {}) < pages // 10  # reused from the heap
    assert faults("setup", {"RNNLAB_TUNE_MALLOC": "0"}) > pages // 2  # mapped afresh each time
    assert faults("plain", {}) > pages // 2
