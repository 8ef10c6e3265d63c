"""``rnnlab`` command line: run one stage by hand, validate params, keep dvc.yaml in sync.

The Snakemake rules call the same stage functions through thin scripts; the CLI is for
people (``rnnlab train zrnn --params params.yaml``) and reads the same params file, with
optional overlays (``--preset smoke`` or ``--overlay file.yaml``). Outputs go to the
paths of the results contract under ``--results`` (default ``results``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rnnlab.params import PROJECT_ROOT, ParamsError, load_params

PRESETS_DIR = PROJECT_ROOT / "workflow" / "presets"


def _params(args: argparse.Namespace) -> dict[str, Any]:
    overlays = [PRESETS_DIR / f"{name}.yaml" for name in args.preset or []]
    overlays += [Path(p) for p in args.overlay or []]
    for path in overlays:
        if not path.exists():
            raise ParamsError(f"overlay {path} does not exist")
    return load_params(args.params, *overlays)


def _paths(results: str) -> dict[str, str]:
    r = Path(results) / "rhythm"
    return {
        "val": str(r / "data" / "val.npz"),
        "test": str(r / "data" / "test.npz"),
        "checkpoint": str(r / "zrnn" / "model.pt"),
        "curve": str(r / "zrnn" / "loss_curve.csv"),
        "train_metrics": str(r / "zrnn" / "metrics.json"),
        "resume": str(r / "zrnn" / "resume.pt"),
        "eval_metrics": str(r / "zrnn_eval" / "metrics.json"),
        "table": str(r / "zrnn_eval" / "continuation.csv"),
        "generalisation": str(r / "zrnn_eval" / "generalisation.csv"),
        "sync": str(r / "zrnn_eval" / "sync.csv"),
        "traces": str(r / "zrnn_eval" / "traces.npz"),
        "fig_outputs": str(r / "figures" / "zrnn_outputs.png"),
        "fig_loss": str(r / "figures" / "zrnn_loss.png"),
        "fig_continuation": str(r / "figures" / "zrnn_continuation.png"),
        "fig_cue_interval": str(r / "figures" / "zrnn_cue_interval.png"),
    }


def cmd_data(args: argparse.Namespace) -> None:
    from rnnlab.tasks.rhythm import write_rhythm_sets

    rhythm, paths = _params(args)["rhythm"], _paths(args.results)
    write_rhythm_sets(rhythm["task"], rhythm["data"], paths["val"], paths["test"])
    print(f"wrote {paths['val']} and {paths['test']}")


def cmd_train(args: argparse.Namespace) -> None:
    from rnnlab.train.zrnn import train_zrnn_stage

    rhythm, paths = _params(args)["rhythm"], _paths(args.results)
    metrics = train_zrnn_stage(
        rhythm["task"],
        rhythm["zrnn"],
        val_path=paths["val"],
        checkpoint_path=paths["checkpoint"],
        curve_path=paths["curve"],
        metrics_path=paths["train_metrics"],
        resume_path=paths["resume"],
        threads=args.threads,
    )
    print(metrics)


def cmd_eval(args: argparse.Namespace) -> None:
    from rnnlab.analysis.rhythm_eval import eval_zrnn_stage

    rhythm, paths = _params(args)["rhythm"], _paths(args.results)
    metrics = eval_zrnn_stage(
        rhythm["zrnn_eval"],
        checkpoint_path=paths["checkpoint"],
        test_path=paths["test"],
        metrics_path=paths["eval_metrics"],
        table_path=paths["table"],
        generalisation_path=paths["generalisation"],
        sync_path=paths["sync"],
        traces_path=paths["traces"],
        threads=args.threads,
    )
    print(metrics["continuation"])


def cmd_figures(args: argparse.Namespace) -> None:
    from rnnlab.plots.rhythm import fig_zrnn_stage

    rhythm, paths = _params(args)["rhythm"], _paths(args.results)
    fig_zrnn_stage(
        rhythm["figures"],
        traces_path=paths["traces"],
        curve_path=paths["curve"],
        table_path=paths["table"],
        generalisation_path=paths["generalisation"],
        sync_path=paths["sync"],
        outputs_png=paths["fig_outputs"],
        loss_png=paths["fig_loss"],
        continuation_png=paths["fig_continuation"],
        cue_interval_png=paths["fig_cue_interval"],
    )
    print(f"wrote figures under {Path(paths['fig_outputs']).parent}")


def cmd_validate(args: argparse.Namespace) -> None:
    _params(args)
    print(f"{args.params}: valid")


def cmd_dvc_sync(args: argparse.Namespace) -> int:
    from rnnlab.pipeline.dvcsync import sync

    up_to_date = sync(args.root, check=args.check)
    if args.check and not up_to_date:
        print("dvc.yaml is out of date: run `rnnlab dvc-sync`", file=sys.stderr)
        return 1
    print("dvc.yaml is up to date" if up_to_date else "dvc.yaml regenerated")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def with_params(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
        p.add_argument("--preset", action="append", help="overlay workflow/presets/NAME.yaml")
        p.add_argument("--overlay", action="append", help="overlay another YAML file")
        p.add_argument("--results", default="results", help="results root (default results)")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        return p

    for name, func, help_text in (
        ("data", cmd_data, "generate validation/test sets"),
        ("train", cmd_train, "train a model"),
        ("eval", cmd_eval, "evaluate a trained model"),
        ("figures", cmd_figures, "draw the figures"),
    ):
        p = with_params(sub.add_parser(name, help=help_text))
        p.add_argument("target", choices=["rhythm"] if name == "data" else ["zrnn"])
        p.set_defaults(func=func)
    p = with_params(sub.add_parser("validate", help="validate a params file (+ overlays)"))
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("dvc-sync", help="regenerate dvc.yaml from the Snakefile")
    p.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is out of date")
    p.add_argument("--root", default=".", help="project root (default .)")
    p.set_defaults(func=cmd_dvc_sync)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ParamsError as err:
        print(f"rnnlab: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
