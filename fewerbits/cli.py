"""The `fewerbits` command line: parses arguments and calls one stage function per subcommand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fewerbits.config import BuildConfig, RunConfig, TrainConfig

EXIT_USAGE = 2
EXIT_ERROR = 1


def _train_args(p: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    p.add_argument(
        "--model", default=defaults.model, help="zoo name (tfc, sfc, lfc, cnv) or file.py:factory"
    )
    p.add_argument(
        "--scheme",
        default=defaults.scheme,
        help="float, binaryconnect, binarynet, xnor, dorefa, int",
    )
    p.add_argument("--wbits", type=int, default=defaults.wbits)
    p.add_argument("--abits", type=int, default=defaults.abits)
    p.add_argument("--dataset", default=defaults.dataset)
    p.add_argument(
        "--data-file", default=None, help="use this dataset file instead of the default location"
    )
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--device", default=defaults.device, choices=["cpu", "cuda"])
    p.add_argument(
        "--max-steps", type=int, default=None, help="cap optimiser steps per epoch (smoke runs)"
    )


def _build_args(p: argparse.ArgumentParser, defaults: BuildConfig) -> None:
    p.add_argument("--board", default=defaults.board)
    p.add_argument("--part", default=None)
    p.add_argument("--clock-ns", type=float, default=defaults.clock_ns)
    p.add_argument("--target-fps", type=int, default=None)
    p.add_argument(
        "--until", default=defaults.until, choices=["estimates", "codegen", "ip", "bitstream"]
    )


def _train_cfg(a: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model=a.model,
        scheme=a.scheme,
        wbits=a.wbits,
        abits=a.abits,
        dataset=a.dataset,
        data_file=a.data_file,
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        seed=a.seed,
        device=a.device,
        max_steps=a.max_steps,
    )


def _build_cfg(a: argparse.Namespace) -> BuildConfig:
    return BuildConfig(
        board=a.board, part=a.part, clock_ns=a.clock_ns, target_fps=a.target_fps, until=a.until
    )


def cmd_run(a: argparse.Namespace) -> int:
    from fewerbits.pipeline import run

    cfg = RunConfig(train=_train_cfg(a), build=_build_cfg(a), verify_samples=a.verify_samples)
    report = run(cfg, Path(a.out), progress=not a.quiet)
    return 0 if report["verification"]["all_passed"] else EXIT_ERROR


def cmd_train(a: argparse.Namespace) -> int:
    from fewerbits.train.trainer import train

    r = train(_train_cfg(a), Path(a.out), progress=not a.quiet)
    print(f"test accuracy {r['test_accuracy']:.4f}; wrote {Path(a.out) / 'checkpoint.pt'}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from fewerbits.config import write_json
    from fewerbits.export.exporter import EXPORT_JSON, MODEL_ONNX, export_qonnx, graph_summary
    from fewerbits.train.trainer import load_checkpoint

    model, ckpt = load_checkpoint(Path(a.checkpoint))
    w = export_qonnx(model, tuple(ckpt["input_shape"]), Path(a.out) / MODEL_ONNX)
    write_json(Path(a.out) / EXPORT_JSON, graph_summary(w))
    print(f"wrote {Path(a.out) / MODEL_ONNX}")
    return 0


def cmd_build(a: argparse.Namespace) -> int:
    from fewerbits.hw.flow import build

    src = Path(a.model)
    onnx = src / "model.onnx" if src.is_dir() else src
    res = build(onnx, Path(a.out), _build_cfg(a), progress=not a.quiet)
    est = res["estimates"]
    if est:
        print(
            f"estimated {est['fps']:,.0f} FPS, {est['luts']:,.0f} LUT, {est['brams']:g} BRAM36; steps skipped: {len(res['steps']['skipped'])}"
        )
    return 0


def cmd_verify(a: argparse.Namespace) -> int:
    print(
        "verify: use `fewerbits run` for now (PyTorch vs QONNX level); the full ladder lands with issue 4",
        file=sys.stderr,
    )
    return EXIT_ERROR


def cmd_infer(a: argparse.Namespace) -> int:
    print("infer: the deployment driver lands with issue 7", file=sys.stderr)
    return EXIT_ERROR


def cmd_doctor(a: argparse.Namespace) -> int:
    from fewerbits.doctor import collect, print_table

    result = collect()
    print_table(result)
    if not result["core_ok"]:
        missing = [r["component"] for r in result["rows"] if r["core"] and not r["ok"]]
        print(
            f"core stack not usable: {', '.join(missing)} missing or wrong version; run `make setup`",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fewerbits",
        description="Quantized nets from Brevitas to FINN FPGA accelerators, verified bit-exact.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "run", help="the whole pipeline on one model: train, export, verify, build, report"
    )
    _train_args(p, TrainConfig())
    _build_args(p, BuildConfig())
    p.add_argument("--out", required=True)
    p.add_argument(
        "--verify-samples", type=int, default=None, help="test images to verify (default: all)"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="quantization-aware training -> checkpoint.pt, train.json")
    _train_args(p, TrainConfig())
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="checkpoint -> QONNX model.onnx, export.json")
    p.add_argument("checkpoint", help="checkpoint.pt or the folder holding it")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "build", help="QONNX -> FINN build directory (estimates, generated code, ...)"
    )
    p.add_argument("model", help="model.onnx or an export folder")
    _build_args(p, BuildConfig())
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "verify", help="run every available verification level on a build or export folder"
    )
    p.add_argument("dir")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("infer", help="run a deployment package on inputs")
    p.add_argument("deploy_dir")
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("doctor", help="versions of the stack and the optional tools")
    p.set_defaults(func=cmd_doctor)

    for action in sub.choices.values():
        action.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    from fewerbits.errors import USER_ERRORS

    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"fewerbits {args.command}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("fewerbits: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
