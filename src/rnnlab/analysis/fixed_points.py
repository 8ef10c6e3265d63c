"""Fixed points and slow points of autonomous continuous-time systems dx/dt = F(x).

The finder follows Sussillo & Barak (2013): minimise the kinetic energy
``q(x) = ½‖F(x)‖²`` from many starting states (typically states visited by trajectories,
plus seeded jitter), keep the minima with ``q`` below a tolerance, merge duplicates,
and linearise there. Batched throughout: ``F`` maps ``(K, N) → (K, N)`` row by row
(row k of the output may depend on row k of the input only).

Three stages:

1. Adam on ``Σ_k q(x_k)`` (element-wise, so every start moves independently), keeping each
   start's best state; cheap per step even for N = 500.
2. A batched Levenberg–Marquardt polish of the candidates, ``(JᵀJ + μI) δ = −JᵀF`` with a
   per-candidate μ; as μ → 0 this is Newton's method, so true roots converge to machine
   precision. Duplicates are merged every few steps.
3. Candidates stuck at small non-zero q get damped Newton steps on q itself (exact
   Hessian), which settle on the local minimum of q: the slow point. (There J is singular,
   so LM alone only crawls.)

Classification uses the eigenvalues λ of the Jacobian ∂F/∂x (continuous time: stable iff
every Re λ < 0), see :func:`classify_eigenvalues`.

For a :class:`~rnnlab.models.ctrnn.CTRNN` at constant input u, :func:`ctrnn_field` gives

    F(x) = (τ_min / τ) ⊙ (−x + W_rec f(x) + W_in u + b),      dx/dt = F(x) / τ_min,

with the *effective* weights (masks, Dale's law), i.e. the bracket of the model's Euler
update ``x ← x + α ⊙ (−x + …)``: time is measured in units of τ (τ_min for per-unit τ,
where the factor τ_min/τ keeps eigenvalues those of the true flow). The Euler map has the
same fixed points; its multipliers are ``1 + α_max λ``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from rnnlab.models.ctrnn import CTRNN

VectorField = Callable[[torch.Tensor], torch.Tensor]
JacobianFn = Callable[[torch.Tensor], torch.Tensor]

STABLE_NODE = "stable node"
STABLE_FOCUS = "stable focus"
UNSTABLE_NODE = "unstable node"
UNSTABLE_FOCUS = "unstable focus"
SADDLE = "saddle"
MARGINAL = "marginal"
CLASSES = (STABLE_NODE, STABLE_FOCUS, UNSTABLE_NODE, UNSTABLE_FOCUS, SADDLE, MARGINAL)


# --- vector fields ---------------------------------------------------------------------
@dataclass(frozen=True)
class CTRNNField:
    """The CTRNN vector field at one constant input (see the module docstring).

    ``time_unit_s`` is τ_min in seconds: divide eigenvalues by it to get 1/s.
    """

    w_rec: torch.Tensor  # (N, N) effective recurrent weights
    drive: torch.Tensor  # (N,) W_in u + b
    tau_ratio: torch.Tensor  # (N,) τ_min / τ (all ones for a scalar τ)
    activation: Callable[[torch.Tensor], torch.Tensor]
    time_unit_s: float

    @property
    def device(self) -> torch.device:
        return self.w_rec.device

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.w_rec)
        return self.tau_ratio * (-x + self.activation(x) @ self.w_rec.T + self.drive)

    def activation_slope(self, x: torch.Tensor) -> torch.Tensor:
        """f'(x) element-wise, by autograd (so every activation of the CTRNN works)."""
        with torch.enable_grad():
            xr = x.detach().to(self.w_rec).requires_grad_(True)
            (slope,) = torch.autograd.grad(self.activation(xr).sum(), xr)
        return slope

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """Analytic ∂F/∂x = diag(τ_min/τ) (−I + W_rec diag(f'(x))), shape (K, N, N)."""
        x = x.to(self.w_rec)
        eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
        jac = -eye + self.w_rec.unsqueeze(0) * self.activation_slope(x).unsqueeze(1)
        return self.tau_ratio.unsqueeze(-1) * jac


@torch.no_grad()
def ctrnn_field(
    model: CTRNN, u: torch.Tensor | np.ndarray | list[float], *, dtype: torch.dtype = torch.float64
) -> CTRNNField:
    """F for ``model`` held at constant input ``u`` (n_input,), on the model's device."""
    weights = model.effective_weights()
    device = weights["rec"].device
    u_t = torch.as_tensor(np.asarray(u, dtype=np.float64), dtype=dtype, device=device)
    if u_t.shape != (model.config.n_input,):
        raise ValueError(f"ctrnn_field: u must have shape ({model.config.n_input},)")
    alpha = model.alpha.to(device=device, dtype=dtype)
    drive = weights["in"].to(dtype) @ u_t + model.b_rec.to(dtype)
    return CTRNNField(
        w_rec=weights["rec"].detach().to(dtype).clone(),
        drive=drive.detach().clone(),
        tau_ratio=(alpha / alpha.max()).clone(),
        activation=model.act,
        time_unit_s=float(model.config.dt / alpha.max().item()),
    )


def batched_jacobian(field_fn: VectorField, x: torch.Tensor) -> torch.Tensor:
    """∂F/∂x at each row of ``x`` (K, N) → (K, N, N), by autograd.

    Because rows are independent, the Jacobian of ``Σ_k F(x)_k`` with respect to ``x``
    holds every per-row Jacobian; one vectorised reverse pass per output dimension.
    """
    with torch.enable_grad():
        jac = torch.autograd.functional.jacobian(
            lambda z: field_fn(z).sum(0), x.detach(), vectorize=True
        )
    return jac.permute(1, 0, 2)


# --- classification --------------------------------------------------------------------
def classify_eigenvalues(eigenvalues: np.ndarray, tol: float = 1e-6) -> tuple[str, int]:
    """Class and number of unstable directions from the Jacobian's eigenvalues.

    With n₊ / n₋ eigenvalues of real part > tol / < −tol and the *leading* eigenvalue the
    one of largest real part (slowest decay, fastest growth):

    - n₊ = 0: ``marginal`` if some |Re λ| ≤ tol (linearisation inconclusive), otherwise
      ``stable focus`` if the leading eigenvalue is complex, else ``stable node``;
    - n₋ = 0: ``unstable focus`` / ``unstable node`` by the same leading-eigenvalue rule;
    - mixed: ``unstable focus`` when the unstable directions are exactly one complex pair
      (strictly a saddle-focus: the flow spirals out in one plane and is attracted in all
      others, the high-dimensional picture of a point inside a limit cycle), else ``saddle``.
    """
    eig = np.asarray(eigenvalues, dtype=complex).ravel()
    re, im = eig.real, eig.imag
    n_u = int(np.sum(re > tol))
    n_s = int(np.sum(re < -tol))
    lead_complex = bool(abs(im[int(np.argmax(re))]) > tol)
    if n_u == 0:
        if n_s < eig.size:
            return MARGINAL, 0
        return (STABLE_FOCUS if lead_complex else STABLE_NODE), 0
    if n_s == 0:
        return (UNSTABLE_FOCUS if lead_complex else UNSTABLE_NODE), n_u
    unstable_im = im[re > tol]
    if n_u == 2 and np.all(np.abs(unstable_im) > tol):
        return UNSTABLE_FOCUS, n_u
    return SADDLE, n_u


# --- result ----------------------------------------------------------------------------
@dataclass
class FixedPointResult:
    """Fixed points (q ≤ q_tol) and, separately, slow points (q_tol < q ≤ slow_tol).

    Points are sorted by q; eigenvalues (K, N) by descending real part, in the field's
    time unit (1/τ for a CTRNN field).
    """

    points: np.ndarray
    q: np.ndarray
    eigenvalues: np.ndarray
    classes: list[str]
    n_unstable: np.ndarray
    slow_points: np.ndarray
    slow_q: np.ndarray
    slow_eigenvalues: np.ndarray
    slow_classes: list[str]
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def summary(self) -> dict[str, Any]:
        """JSON-ready digest for metrics files."""
        counts = Counter(self.classes)
        return {
            "n_fixed_points": len(self),
            "classes": list(self.classes),
            "class_counts": {c: int(counts.get(c, 0)) for c in CLASSES},
            "n_unstable": [int(n) for n in self.n_unstable],
            "max_real_eigenvalue": [float(e[0].real) for e in self.eigenvalues],
            "q": [float(v) for v in self.q],
            "n_slow_points": int(self.slow_points.shape[0]),
            "slow_classes": list(self.slow_classes),
        }


# --- starting states -------------------------------------------------------------------
def sample_states(
    states: np.ndarray | torch.Tensor,
    n: int,
    *,
    generator: torch.Generator,
    noise_std: float = 0.0,
) -> torch.Tensor:
    """``n`` states drawn (with replacement) from ``states`` (…, N), plus Gaussian jitter."""
    if isinstance(states, torch.Tensor):
        states = states.detach().cpu().numpy()
    flat = torch.as_tensor(np.asarray(states, dtype=np.float64))
    flat = flat.reshape(-1, flat.shape[-1])
    idx = torch.randint(flat.shape[0], (n,), generator=generator)
    picked = flat[idx]
    if noise_std > 0:
        picked = picked + noise_std * torch.randn(
            picked.shape, generator=generator, dtype=picked.dtype
        )
    return picked


# --- the finder ------------------------------------------------------------------------
def _q(field_fn: VectorField, x: torch.Tensor) -> torch.Tensor:
    return 0.5 * field_fn(x).pow(2).sum(-1)


def _dedup(x: torch.Tensor, q: torch.Tensor, tol: float) -> torch.Tensor:
    """Indices of a greedy, q-ordered subset whose members are more than ``tol`` apart."""
    order = torch.argsort(q)
    keep: list[int] = []
    for i in order.tolist():
        if not keep or torch.cdist(x[i : i + 1], x[keep]).min() > tol:
            keep.append(i)
    return torch.as_tensor(keep, dtype=torch.long, device=x.device)


def _adam(
    field_fn: VectorField, x0: torch.Tensor, steps: int, lr: float, stop_q: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-start best states and their q after ``steps`` Adam steps on Σ q."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    gamma = 0.01 ** (1.0 / max(steps, 1))  # lr decays to lr/100 over the run
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    with torch.no_grad():
        best_x, best_q = x0.clone(), _q(field_fn, x0)
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            q = _q(field_fn, x)
            with torch.no_grad():
                better = q < best_q
                best_q = torch.where(better, q, best_q)
                best_x = torch.where(better.unsqueeze(-1), x, best_x)
            if bool((best_q <= stop_q).all()):
                break
            q.sum().backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        q = _q(field_fn, x)
        better = q < best_q
        best_q = torch.where(better, q, best_q)
        best_x = torch.where(better.unsqueeze(-1), x.detach(), best_x)
    return best_x.detach(), best_q.detach()


System = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _gauss_newton_system(jac_fn: JacobianFn) -> System:
    """(JᵀJ, −JᵀF): Levenberg–Marquardt on q, Newton's method on F = 0 as μ → 0."""

    def system(x: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        jac = jac_fn(x)
        jt = jac.transpose(-1, -2)
        return jt @ jac, -(jt @ f.unsqueeze(-1)).squeeze(-1)

    return system


def _hessian_system(field_fn: VectorField) -> System:
    """(∇²q, −∇q) by torch.func: damped Newton on q, which converges to the non-zero
    minima of q (slow points), where JᵀJ alone is singular and LM crawls."""

    def q_one(z: torch.Tensor) -> torch.Tensor:
        return 0.5 * field_fn(z.unsqueeze(0)).pow(2).sum()

    grad = torch.func.vmap(torch.func.grad(q_one))
    hess = torch.func.vmap(torch.func.jacrev(torch.func.grad(q_one)))  # reverse-over-reverse

    def system(x: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return hess(x), -grad(x)

    return system


@torch.no_grad()
def _damped_newton(
    field_fn: VectorField,
    system: System,
    x: torch.Tensor,
    mu: torch.Tensor,
    steps: int,
    stop_q: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched steps ``(A + μI) δ = b`` with per-row damping μ, accepted only if q drops.

    Returns the states, their q and the updated μ.
    """
    f = field_fn(x)
    q = 0.5 * f.pow(2).sum(-1)
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    for _ in range(steps):
        if bool((q <= stop_q).all()):
            break
        lhs, rhs = system(x, f)
        delta, _ = torch.linalg.solve_ex(lhs + mu[:, None, None] * eye, rhs.unsqueeze(-1))
        x_new = x + torch.nan_to_num(delta.squeeze(-1))
        f_new = field_fn(x_new)
        q_new = 0.5 * f_new.pow(2).sum(-1)
        ok = q_new < q
        x = torch.where(ok.unsqueeze(-1), x_new, x)
        f = torch.where(ok.unsqueeze(-1), f_new, f)
        q = torch.where(ok, q_new, q)
        mu = torch.where(ok, mu * 0.1, mu * 10.0).clamp(1e-14, 1e10)
    return x, q, mu


def _refine(
    field_fn: VectorField,
    system: System,
    x: torch.Tensor,
    q: torch.Tensor,
    steps: int,
    round_steps: int,
    stop_q: float,
    dedup_tol: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_damped_newton` in rounds, merging duplicates in between so that copies
    converging to the same point stop costing work."""
    mu = torch.full_like(q, 1e-3)
    done = 0
    while done < steps and x.shape[0]:
        n = min(round_steps, steps - done)
        x, q, mu = _damped_newton(field_fn, system, x, mu, n, stop_q)
        keep = _dedup(x, q, dedup_tol)
        x, q, mu = x[keep], q[keep], mu[keep]
        done += n
    return x, q


def find_fixed_points(
    field_fn: VectorField,
    starts: torch.Tensor | np.ndarray,
    *,
    generator: torch.Generator,
    jacobian: JacobianFn | None = None,
    jitter: float = 0.0,
    adam_steps: int = 500,
    lr: float = 1e-2,
    polish_steps: int = 100,
    polish_round: int = 5,
    slow_steps: int = 30,
    q_tol: float = 1e-12,
    slow_tol: float = 1e-5,
    candidate_tol: float = float("inf"),
    dedup_tol: float = 1e-4,
    eig_tol: float = 1e-6,
    max_candidates: int = 256,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> FixedPointResult:
    """Fixed and slow points of ``dx/dt = field_fn(x)`` reached from ``starts`` (K, N).

    ``jitter`` adds N(0, jitter²) noise (drawn from ``generator``) to the starts. The
    Jacobian is ``jacobian`` if given, else ``field_fn.jacobian`` if it has one (as
    :class:`CTRNNField` does), else autograd. Candidates after Adam with q ≤
    ``candidate_tol`` are merged at distance ``dedup_tol``, the ``max_candidates``
    lowest are polished (``polish_steps`` LM steps, merging duplicates every
    ``polish_round`` steps). Candidates left with q_tol < q ≤ 100·slow_tol get
    ``slow_steps`` damped Newton steps on q itself (exact Hessian by ``torch.func``, so
    ``field_fn`` must be built from plain torch ops) to settle on the minimum of q. All are
    then merged and split by ``q_tol`` / ``slow_tol``. Non-finite starts
    (e.g. from a diverged trajectory) are dropped. Work happens on ``device`` (default:
    the field's ``device`` attribute, else that of ``starts``); jitter is drawn on the CPU.
    """
    if device is None:
        device = getattr(field_fn, "device", None) or (
            starts.device if isinstance(starts, torch.Tensor) else torch.device("cpu")
        )
    raw = starts.detach().cpu() if isinstance(starts, torch.Tensor) else np.asarray(starts)
    x0 = torch.as_tensor(raw)
    x0 = x0.to(dtype).reshape(-1, x0.shape[-1])
    if jitter > 0:
        x0 = x0 + jitter * torch.randn(x0.shape, generator=generator, dtype=dtype)
    x0 = x0.to(device)
    jac_fn: JacobianFn = (
        jacobian or getattr(field_fn, "jacobian", None) or partial(batched_jacobian, field_fn)
    )
    x0 = x0[torch.isfinite(x0).all(-1)]
    x, q = _adam(field_fn, x0, adam_steps, lr, stop_q=q_tol)
    good = torch.nonzero(q <= candidate_tol).squeeze(-1)
    x, q = x[good], q[good]
    keep = _dedup(x, q, dedup_tol)[:max_candidates]
    x, q = x[keep], q[keep]
    x, q = _refine(
        field_fn,
        _gauss_newton_system(jac_fn),
        x,
        q,
        polish_steps,
        polish_round,
        q_tol * 1e-6,
        dedup_tol,
    )
    near_slow = (q > q_tol) & (q <= 100 * slow_tol)
    if slow_steps > 0 and bool(near_slow.any()):
        xs, qs = _refine(
            field_fn,
            _hessian_system(field_fn),
            x[near_slow],
            q[near_slow],
            slow_steps,
            polish_round,
            q_tol * 1e-6,
            dedup_tol,
        )
        x, q = torch.cat([x[~near_slow], xs]), torch.cat([q[~near_slow], qs])

    fixed = q <= q_tol
    slow = (q > q_tol) & (q <= slow_tol)
    xf, qf = x[fixed], q[fixed]
    kf = _dedup(xf, qf, dedup_tol)
    xf, qf = xf[kf], qf[kf]
    xs, qs = x[slow], q[slow]
    ks = _dedup(xs, qs, dedup_tol)
    xs, qs = xs[ks], qs[ks]
    if xs.shape[0] and xf.shape[0]:  # a slow point next to a fixed point is the same minimum
        far = torch.cdist(xs, xf).min(-1).values > dedup_tol
        xs, qs = xs[far], qs[far]

    def linearise(pts: torch.Tensor) -> tuple[np.ndarray, list[str], np.ndarray]:
        n = x0.shape[-1]
        if pts.shape[0] == 0:
            return np.zeros((0, n), dtype=complex), [], np.zeros(0, dtype=int)
        eig = torch.linalg.eigvals(jac_fn(pts)).cpu().numpy()
        order = np.argsort(-eig.real, axis=-1, kind="stable")
        eig = np.take_along_axis(eig, order, axis=-1)
        labelled = [classify_eigenvalues(e, eig_tol) for e in eig]
        return eig, [c for c, _ in labelled], np.array([k for _, k in labelled], dtype=int)

    eig_f, cls_f, nu_f = linearise(xf)
    eig_s, cls_s, _ = linearise(xs)
    settings = {
        "n_starts": int(x0.shape[0]),
        "jitter": jitter,
        "q_tol": q_tol,
        "slow_tol": slow_tol,
        "dedup_tol": dedup_tol,
        "eig_tol": eig_tol,
    }
    return FixedPointResult(
        points=xf.cpu().numpy(),
        q=qf.cpu().numpy(),
        eigenvalues=eig_f,
        classes=cls_f,
        n_unstable=nu_f,
        slow_points=xs.cpu().numpy(),
        slow_q=qs.cpu().numpy(),
        slow_eigenvalues=eig_s,
        slow_classes=cls_s,
        settings=settings,
    )
