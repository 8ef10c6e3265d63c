"""Load, overlay and validate params before any job runs.

The schema (``workflow/schemas/params.schema.yaml``) requires every key and forbids
unknown ones. Errors name the dotted key and the allowed range or type, e.g.
``rhythm.zrnn.train.lr = -0.1: must be > 0 (allowed: 0 < value <= 1)``. Cross-field
rules a JSON schema cannot state (e.g. discard shorter than the drive) are checked here too.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = PROJECT_ROOT / "workflow" / "schemas" / "params.schema.yaml"


class ParamsError(ValueError):
    """A params file that fails validation; the message names every bad key."""


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge (the same rule Snakemake applies to ``--configfile``)."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def section_values(
    cls: type,
    section: Mapping[str, Any],
    where: str,
    *,
    float_tuples: tuple[str, ...] = (),
    strict: bool = False,
) -> dict[str, Any]:
    """Keyword arguments for the settings dataclass ``cls`` from one params ``section``.

    Every field without a default is required: missing ones raise ``KeyError`` naming
    ``where`` and the keys. Keys that are not fields are left out, or with ``strict`` raise
    ``KeyError`` too. The ``float_tuples`` fields (YAML lists) become tuples of floats, so
    frozen settings stay hashable.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    missing = [
        name
        for name, f in fields.items()
        if name not in section
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise KeyError(f"{where}: missing key(s) {missing}")
    unknown = [k for k in section if k not in fields]
    if strict and unknown:
        raise KeyError(f"{where}: unknown key(s) {unknown} (allowed: {list(fields)})")
    values = {k: section[k] for k in fields if k in section}
    for key in float_tuples:
        values[key] = tuple(float(v) for v in values[key])
    return values


def _read_yaml(path: str | Path) -> dict[str, Any]:
    if not Path(path).is_file():
        raise ParamsError(f"params file {path} does not exist")
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ParamsError(f"{path} must hold a mapping of sections, not {type(data).__name__}")
    return data


def load_params(path: str | Path, *overlays: str | Path) -> dict[str, Any]:
    """Read ``path``, merge each overlay on top, validate, return the dict."""
    params = _read_yaml(path)
    for extra in overlays:
        params = deep_merge(params, _read_yaml(extra))
    validate_params(params)
    return params


def _non_finite(node: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Dotted keys of NaN/inf numbers (JSON schema range checks let NaN through)."""
    if isinstance(node, Mapping):
        return [e for k, v in node.items() for e in _non_finite(v, path + (str(k),))]
    if isinstance(node, list):
        return [e for i, v in enumerate(node) for e in _non_finite(v, path + (str(i),))]
    if isinstance(node, float) and not math.isfinite(node):
        return [f"{'.'.join(path)} = {node}: must be a finite number"]
    return []


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{key + '.' if error.absolute_path else ''}{missing}: missing required key"
    if error.validator == "additionalProperties":
        allowed = ", ".join(sorted(schema.get("properties", {})))
        return f"{key}: {error.message} (allowed keys: {allowed})"
    bounds = []
    if "minimum" in schema:
        bounds.append(f"{schema['minimum']} <= value")
    if "exclusiveMinimum" in schema:
        bounds.append(f"{schema['exclusiveMinimum']} < value")
    if "maximum" in schema:
        bounds.append(f"value <= {schema['maximum']}")
    if "exclusiveMaximum" in schema:
        bounds.append(f"value < {schema['exclusiveMaximum']}")
    hint = ""
    if "enum" in schema:
        hint = f" (allowed: {', '.join(map(str, schema['enum']))})"
    elif "type" in schema:
        hint = f" (type {schema['type']}{', ' + ' and '.join(bounds) if bounds else ''})"
    return f"{key} = {error.instance!r}: {error.message}{hint}"


def _cross_field_errors(params: Mapping[str, Any]) -> list[str]:
    errors = []
    rhythm = params.get("rhythm", {})
    task = rhythm.get("task", {})
    if task.get("onset_min_s", 0) > task.get("onset_max_s", 0):
        errors.append("rhythm.task.onset_min_s must be <= rhythm.task.onset_max_s")
    if task.get("sync_window_s", 0) > task.get("duration_s", float("inf")):
        errors.append("rhythm.task.sync_window_s must be <= rhythm.task.duration_s")
    if task.get("dt_s", 0) >= task.get("duration_s", float("inf")):
        errors.append("rhythm.task.dt_s must be < rhythm.task.duration_s")
    tau = rhythm.get("zrnn", {}).get("model", {}).get("tau_s")
    if tau is not None and task.get("dt_s", 0) > tau:
        errors.append(
            f"rhythm.zrnn.model.tau_s = {tau} must be >= rhythm.task.dt_s = {task['dt_s']} "
            "(alpha = dt/tau must be <= 1)"
        )
    train = rhythm.get("zrnn", {}).get("train", {})
    if train and train.get("val_discard_s", 0) >= train.get("val_drive_s", float("inf")):
        errors.append("rhythm.zrnn.train.val_discard_s must be < val_drive_s")
    cont = rhythm.get("zrnn_eval", {}).get("continuation", {})
    if cont and cont.get("discard_s", 0) >= cont.get("drive_s", float("inf")):
        errors.append("rhythm.zrnn_eval.continuation.discard_s must be < drive_s")
    dyn = rhythm.get("zrnn_dynamics", {})
    drive = dyn.get("drive", {})
    if drive and drive.get("discard_s", 0) >= drive.get("drive_s", float("inf")):
        errors.append("rhythm.zrnn_dynamics.drive.discard_s must be < drive_s")
    ref, periods = dyn.get("reference_period_s"), task.get("periods_s") or []
    if ref is not None and periods and min(abs(ref - p) / p for p in periods) > 0.02:
        errors.append(
            f"rhythm.zrnn_dynamics.reference_period_s = {ref} must be one of "
            f"rhythm.task.periods_s {periods} (within 2 %)"
        )
    flow = rhythm.get("zrnn_flow", {})
    if flow and flow.get("pca", {}).get("discard_s", 0) >= flow.get("duration_s", float("inf")):
        errors.append("rhythm.zrnn_flow.pca.discard_s must be < rhythm.zrnn_flow.duration_s")
    reduced = rhythm.get("reduced_model", {})
    transient = reduced.get("oscillation", {}).get("transient_s", 0)
    for name in ("bifurcation", "period_sweep"):
        sweep = reduced.get(name, {})
        if sweep and sweep.get("i_min", 0) >= sweep.get("i_max", float("inf")):
            errors.append(f"rhythm.reduced_model.{name}.i_min must be < i_max")
        if sweep and transient >= sweep.get("duration_s", float("inf")):
            errors.append(
                f"rhythm.reduced_model.oscillation.transient_s must be < {name}.duration_s"
            )
    gen = rhythm.get("zrnn_eval", {}).get("generalisation", {})
    if gen and gen.get("cue_min", 0) >= gen.get("cue_max", float("inf")):
        errors.append("rhythm.zrnn_eval.generalisation.cue_min must be < cue_max")
    errors += _prnn_cross_field_errors(rhythm.get("prnn", {}))
    errors += _izrnn_cross_field_errors(rhythm)
    return errors


def _prnn_cross_field_errors(prnn: Mapping[str, Any]) -> list[str]:
    """Orderings the schema cannot express for ``rhythm.prnn``."""
    errors = []
    task, data = prnn.get("task", {}), prnn.get("data", {})
    periods = task.get("periods", {})
    inf = float("inf")
    if task.get("onset_min_s", 0) > task.get("onset_max_s", inf):
        errors.append("rhythm.prnn.task.onset_min_s must be <= rhythm.prnn.task.onset_max_s")
    if task.get("min_duration_s", 0) > task.get("max_duration_s", inf):
        errors.append("rhythm.prnn.task.min_duration_s must be <= max_duration_s")
    if periods and periods.get("min_s", 0) >= periods.get("max_s", inf):
        errors.append("rhythm.prnn.task.periods.min_s must be < rhythm.prnn.task.periods.max_s")
    if periods and periods.get("grid_s", 0) > periods.get("max_s", inf) - periods.get("min_s", 0):
        errors.append("rhythm.prnn.task.periods.grid_s must be <= max_s - min_s")
    if task and periods and task.get("dt_s", 0) > periods.get("min_s", inf):
        errors.append("rhythm.prnn.task.dt_s must be <= rhythm.prnn.task.periods.min_s")
    if data and data.get("test_sync_s", 0) >= data.get("test_duration_s", inf):
        errors.append("rhythm.prnn.data.test_sync_s must be < rhythm.prnn.data.test_duration_s")
    return errors


def _izrnn_cross_field_errors(rhythm: Mapping[str, Any]) -> list[str]:
    """The IZRNN's test must leave room for continuation; listed periods must be evaluated."""
    errors: list[str] = []
    inf = float("inf")
    ev = rhythm.get("izrnn_eval", {})
    if not ev:
        return errors
    periods = list(ev.get("periods_s", []))
    longest = max(periods + [ev.get("random_max_s", 0)] if ev.get("n_random") else periods or [0])
    needed = ev.get("onset_s", 0) + ev.get("sync_s", 0) + ev.get("discard_s", 0) + 4 * longest
    if needed > ev.get("duration_s", inf):
        errors.append(
            f"rhythm.izrnn_eval.duration_s = {ev.get('duration_s')} must be >= onset_s + sync_s "
            f"+ discard_s + 4 x the longest period = {needed:g} (room for continuation taps)"
        )
    if ev.get("random_min_s", 0) > ev.get("random_max_s", inf):
        errors.append("rhythm.izrnn_eval.random_min_s must be <= random_max_s")
    if ev.get("activity_window_s", 0) > ev.get("duration_s", inf) - ev.get("sync_s", 0):
        errors.append("rhythm.izrnn_eval.activity_window_s must fit in the continuation")
    for key in ("trace_periods_s", "flow_periods_s"):
        extra = [p for p in ev.get(key, []) if not any(abs(p - q) < 1e-9 for q in periods)]
        if extra:
            errors.append(f"rhythm.izrnn_eval.{key} {extra} must be among periods_s {periods}")
    ref = rhythm.get("zrnn_dynamics", {}).get("reference_period_s")
    if ref is not None and periods and not any(abs(ref - q) / q <= 0.02 for q in periods):
        errors.append(
            f"rhythm.zrnn_dynamics.reference_period_s = {ref} must be among "
            f"rhythm.izrnn_eval.periods_s (the IZRNN dynamics use it too)"
        )
    ft = rhythm.get("izrnn", {}).get("finetune", {})
    if ft and ft.get("sync_s", 0) >= ft.get("duration_s", inf):
        errors.append("rhythm.izrnn.finetune.sync_s must be < rhythm.izrnn.finetune.duration_s")
    return errors


def validate_params(params: Mapping[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> None:
    """Raise :class:`ParamsError` listing every violation, or return None."""
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    validator = jsonschema.Draft202012Validator(schema)
    messages = _non_finite(params)
    messages += [_describe(e) for e in sorted(validator.iter_errors(params), key=str)]
    if not messages:
        messages = _cross_field_errors(params)
    if messages:
        raise ParamsError("invalid params:\n  - " + "\n  - ".join(messages))
