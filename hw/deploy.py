"""BUILD/deploy/: the deployment package a user copies to the board.

    deploy/driver/          the driver (numpy only; pynq on the board), a copy of hw/driver
    deploy/settings.json    datatypes, normal/folded/packed shapes, DMA names, batch limit,
                            clock, host pre/post-processing, sha256 of the packaged files
    deploy/hw/dataflow.onnx the folded hardware graph (for the ``python`` back end)
    deploy/bitfile/         finn-accel.bit + .hwh, when the bitstream was built
    deploy/runtime_weights/ weights of runtime-writeable layers (URAM), one <layer>.dat each,
                            which the driver writes over AXI-lite before the first frame
                            (hw/runtime_weights.py; settings.json runtime_weights)
    deploy/validate.py      accuracy on a dataset .npz; README.md with the board commands

finn-plus 1.6.1's step_make_driver needs the stitched IP, so settings.json is generated here
from the graph, with FINN's own shape functions on the first/last dataflow node.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from fewerbits.compat.finn import env as finn_env
from fewerbits.core.artifacts import BuildDir
from fewerbits.core.errors import FewerbitsError
from fewerbits.core.files import read_json, write_json

from .board import BOARD_DIR, BOARD_JSON
from .build.steps import CREATE_DATAFLOW_PARTITION as PARTITION_STEP
from .driver import hostops
from .driver.backends import graph_streams, load_hw_graph
from .driver.errors import DriverError
from .driver.packing import packed_bytes
from .driver.settings import FORMAT, SETTINGS_JSON, load_settings, sha256
from .runtime_weights import RuntimeWeightsError, write_runtime_weights

IDMA, ODMA = "idma0", "odma0"  # FINN's default IODMA instance names (InsertIODMA)
BUFFER_BYTES = 16 << 20  # batch.max keeps each DMA buffer under 16 MiB (PYNQ CMA is small)
MAX_BATCH = 1024
WRAPPERS = ("StreamingDataflowPartition", "IODMA")

VALIDATE_PY = '''"""Accuracy and frames/s of this accelerator on a dataset .npz (arrays x, y).

    python validate.py --dataset mnist-5k_test.npz --backend pynq
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driver.validate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(deploy_dir=Path(__file__).resolve().parent))
'''


class DeployError(FewerbitsError):
    """A build that cannot be turned into a deployment package (one line, names the node)."""


def _ancestors(model, tensor: str) -> list:
    """Nodes of the chain from the graph input to ``tensor`` (single-input chain, in order)."""
    chain, t = [], tensor
    inputs = {i.name for i in model.graph.input}
    while t not in inputs:
        node = model.find_producer(t)
        if node is None:
            raise DeployError(f"tensor {t} has no producer in the pre-partition graph")
        chain.append(node)
        dyn = [i for i in node.input if model.get_initializer(i) is None and i]
        if len(dyn) != 1:
            raise DeployError(f"host node {node.name} ({node.op_type}) has {len(dyn)} data inputs")
        t = dyn[0]
    return chain[::-1]


def _descendants(model, tensor: str) -> list:
    chain, t = [], tensor
    outputs = {o.name for o in model.graph.output}
    while t not in outputs:
        nodes = model.find_consumers(t)
        if len(nodes) != 1:
            raise DeployError(f"tensor {t} has {len(nodes)} consumers after the accelerator")
        chain.append(nodes[0])
        t = nodes[0].output[0]
    return chain


def host_op(model, node) -> dict:
    """One software node as a numpy-describable host op, or DeployError."""
    from qonnx.util.basic import get_by_name

    t = node.op_type
    if t == "Transpose":
        return {
            "op": "transpose",
            "perm": [int(i) for i in get_by_name(node.attribute, "perm").ints],
        }
    if t == "Reshape":
        shape = model.get_initializer(node.input[1])
        return {"op": "reshape", "shape": [int(i) for i in shape]}
    if t == "Flatten":
        axis = get_by_name(node.attribute, "axis")
        if axis is not None and axis.i != 1:
            raise DeployError(
                f"host node {node.name} (Flatten axis={axis.i}): only axis=1 is supported"
            )
        return {"op": "flatten"}
    if t in ("Mul", "Add", "Sub", "Div"):
        consts = [model.get_initializer(i) for i in node.input]
        if consts[0] is None and consts[1] is not None:
            c = np.asarray(consts[1], dtype=np.float32)
        elif t in ("Mul", "Add") and consts[1] is None and consts[0] is not None:
            c = np.asarray(consts[0], dtype=np.float32)
        else:
            raise DeployError(
                f"host node {node.name} ({t}) must have a constant second input to run on the host"
            )
        return {"op": t.lower(), "shape": list(c.shape), "value": c.ravel().tolist()}
    raise DeployError(
        f"node {node.name} ({t}) runs outside the accelerator and the driver cannot run it on the "
        f"host (supported: {', '.join(hostops.SUPPORTED)}); change the model so it maps to hardware"
    )


def stream_entry(port: dict, dma: str) -> dict:
    """settings.json accelerator.input/output, with FINN's packed shape cross-checked."""
    from finn.util.data_packing import finnpy_to_packed_bytearray
    from qonnx.core.datatype import DataType
    from qonnx.util.basic import gen_finn_dt_tensor

    folded = port["shape_folded"]
    packed = [*folded[:-1], packed_bytes(folded[-1], port["datatype"])]
    dt = DataType[port["datatype"]]
    finn_packed = finnpy_to_packed_bytearray(gen_finn_dt_tensor(dt, folded), dt).shape
    if list(finn_packed) != packed:
        raise DeployError(f"packed shape {packed} != FINN's {list(finn_packed)} for {dt.name}")
    return {"dma": dma, **port, "shape_packed": packed}


def _find(build_dir: Path, sub: str, pattern: str) -> Path | None:
    found = sorted((build_dir / sub).glob(pattern)) if (build_dir / sub).is_dir() else []
    return found[0] if found else None


def _graphs(bdir: BuildDir, ran: list[str]):
    """(parent model before the partition, folded hw graph, its file) of a build."""
    from qonnx.core.modelwrapper import ModelWrapper  # lazy: qonnx import after prepare_finn

    before = bdir.model_before(PARTITION_STEP)
    if before is None:
        raise DeployError(f"{bdir.path}: no model saved before {PARTITION_STEP}")
    parent = ModelWrapper(str(before))
    idx = ran.index(PARTITION_STEP)
    # the latest folded dataflow graph; the Vivado steps' models (ZynqBuild's IODMA partitions)
    # wrap it in new StreamingDataflowPartition / IODMA nodes, which the driver does not execute
    for step in reversed(ran[idx:]):
        cand = load_hw_graph(bdir.model_after(step))
        if not any(n.op_type.startswith(WRAPPERS) for n in cand.graph.node):
            if len(cand.graph.input) != 1 or len(cand.graph.output) != 1:
                raise DeployError(
                    f"{bdir.model_after(step)}: the driver supports one input and one output stream"
                )
            return parent, cand, bdir.model_after(step)
    raise DeployError(f"{bdir.intermediate}: no folded dataflow graph after {PARTITION_STEP}")


def _host_ops(parent, hw, streams: dict) -> tuple[list[dict], list[dict]]:
    """The software ops before and after the accelerator, as host ops for the driver."""
    hw_in, hw_out = hw.graph.input[0].name, hw.graph.output[0].name
    pre = [host_op(parent, n) for n in _ancestors(parent, hw_in)]
    post = [host_op(parent, n) for n in _descendants(parent, hw_out)]
    # FINN lets the first layer consume the partition input in its own (e.g. NHWC 4D) shape while
    # the node's normal input shape is flat; the row-major data is the same, so reshape on the host
    for ops, graph_t, normal in (
        (pre, hw_in, streams["input"]["shape_normal"]),
        (post, hw_out, streams["output"]["shape_normal"]),
    ):
        shape = list(parent.get_tensor_shape(graph_t) or [])
        if shape and shape != normal and int(np.prod(shape)) == int(np.prod(normal)):
            reshape = {
                "op": "reshape",
                "shape": [int(i) for i in (normal if ops is pre else shape)],
            }
            ops.insert(len(ops) if ops is pre else 0, reshape)
    return pre, post


def _copy_files(build_dir: Path, tmp: Path, hw_onnx: Path) -> dict:
    """Driver, hw graph and bitfile/hwh into ``tmp``; their settings.json ``files``."""
    (tmp / "hw").mkdir(parents=True)
    shutil.copytree(
        Path(__file__).parent / "driver",
        tmp / "driver",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy2(hw_onnx, tmp / "hw" / "dataflow.onnx")
    files = {
        "hw_graph": {"path": "hw/dataflow.onnx", "sha256": sha256(tmp / "hw" / "dataflow.onnx")}
    }
    for key, pattern in (("bitfile", "*.bit"), ("hwh", "*.hwh")):
        src = _find(build_dir, "bitfile", pattern)
        files[key] = None
        if src is not None:
            (tmp / "bitfile").mkdir(exist_ok=True)
            shutil.copy2(src, tmp / "bitfile" / src.name)
            files[key] = {"path": f"bitfile/{src.name}", "sha256": sha256(src)}
    return files


def _port(model, tensor: str) -> dict:
    return {
        "shape": model.get_tensor_shape(tensor),
        "datatype": model.get_tensor_datatype(tensor).name,
    }


def write_deploy_package(build_dir: Path | str) -> Path | None:
    """Write BUILD/deploy/ (atomically); None if the build stopped before the dataflow partition."""
    build_dir = Path(build_dir)
    bdir = BuildDir(build_dir)
    ran = bdir.saved_steps()
    if PARTITION_STEP not in ran:
        return None
    finn_env.prepare_finn(build_dir)
    parent, hw, hw_onnx = _graphs(bdir, ran)
    streams = graph_streams(hw)  # FINN's shapes on the first/last node, as built
    pre, post = _host_ops(parent, hw, streams)
    cfg = read_json(bdir.config)
    acc_in = stream_entry(streams["input"], IDMA)
    acc_out = stream_entry(streams["output"], ODMA)
    frame = max(int(np.prod(acc_in["shape_packed"][1:])), int(np.prod(acc_out["shape_packed"][1:])))
    out = bdir.deploy.path
    tmp = build_dir / (BuildDir.DEPLOY + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    files = _copy_files(build_dir, tmp, hw_onnx)
    try:
        runtime_weights = write_runtime_weights(hw, tmp, str(cfg.get("fpga_part", "")))
    except RuntimeWeightsError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DeployError(f"{hw_onnx}: {e}") from None
    settings = {
        "format": FORMAT,
        "model": {
            "input": _port(parent, parent.graph.input[0].name),
            "output": _port(parent, parent.graph.output[0].name),
        },
        "accelerator": {"input": acc_in, "output": acc_out},
        "host": {"pre": pre, "post": post},
        "batch": {"max": max(1, min(MAX_BATCH, BUFFER_BYTES // frame))},
        "fclk_mhz": 1000.0 / float(cfg["synth_clk_period_ns"]),
        "platform": "zynq-iodma",
        "board": cfg.get("board"),
        "files": files,
        "runtime_weights": runtime_weights,
        "build_dir": str(build_dir.resolve()),
        "hw_nodes": [n.op_type for n in hw.graph.node],
    }
    board = build_dir / BOARD_DIR / BOARD_JSON
    if board.is_file():  # an open-FPGA board: its bitstream and UART link (hw/board)
        add_board(settings, read_json(board), build_dir / BOARD_DIR, tmp)
    write_json(tmp / SETTINGS_JSON, settings)
    (tmp / "validate.py").write_text(VALIDATE_PY)
    (tmp / "README.md").write_text(readme(settings) + board_readme(settings))
    try:
        load_settings(tmp)  # the driver must accept what we wrote
    except DriverError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DeployError(f"deployment package rejected by its own driver: {e}") from None
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def add_board(settings: dict, board: dict, board_dir: Path, tmp: Path) -> None:
    """The board bitstream beside settings.json (``deploy/fb_board_top.bit``), the link the
    driver's serial back end speaks, the board's clock."""
    src = board_dir / board["bitstream"]
    shutil.copy2(src, tmp / src.name)
    settings["files"]["bitfile"] = {"path": src.name, "sha256": sha256(tmp / src.name)}
    settings["link"] = board["link"]
    settings["platform"] = "uart"
    settings["fclk_mhz"] = board["link"]["clock_mhz"]


#: how a user programs each open board (openFPGALoader's board names)
PROGRAMMERS = {"ULX3S-85F": "ulx3s", "ULX3S-45F": "ulx3s", "iCEBreaker": "icebreaker"}


def board_readme(s: dict) -> str:
    """README.md of an open-FPGA board package: program the board, run it over the UART."""
    link = s.get("link")
    if not link:
        return ""
    bit = s["files"]["bitfile"]["path"]
    return f"""
## On an open-FPGA board ({s["board"]})

This package holds the board's bitstream `{bit}` (fewerbits' UART wrapper around the
accelerator, {link["baud"]:,} baud 8N1 through the board's USB serial chip, no flow control).
Program the FPGA's configuration RAM with openFPGALoader (add `-f` to write the flash) and run:

    openFPGALoader --board {PROGRAMMERS.get(s["board"], "BOARD")} {bit}
    fewerbits infer . --backend serial --port /dev/ttyUSB0 --input x.npy --out y.npy
    python3 validate.py --dataset mnist-5k_test.npz --backend serial --port /dev/ttyUSB0

(needs numpy and pyserial). Without a board, `--backend rtlsim` runs the same driver code
against the Verilator simulation of the whole board top (wrapper + accelerator, the UART at
bit level) from the build folder.
"""


def runtime_weights_readme(s: dict) -> str:
    """The README's paragraph on weights the driver writes at start-up (URAM), if any."""
    rw = s.get("runtime_weights") or []
    if not rw:
        return ""
    layers = ", ".join(e["layer"] for e in rw)
    return f"""
{len(rw)} layer(s) keep their weights in memory the bitstream does not initialise (URAM):
{layers}. `Accelerator(..., backend="pynq")` writes each `runtime_weights/<layer>.dat` over
the layer's AXI-lite port (address from the .hwh), reads it back, and runs a few dummy
frames before the first real one; without that the layers compute with zeros.
"""


def readme(s: dict) -> str:
    """README.md of the package: what is in it and the board commands."""
    i, o = s["accelerator"]["input"], s["accelerator"]["output"]
    bit = s["files"]["bitfile"]
    return f"""# fewerbits deployment package

Model input {s["model"]["input"]["shape"]} {s["model"]["input"]["datatype"]} -> output
{s["model"]["output"]["shape"]} {s["model"]["output"]["datatype"]}; accelerator stream
{i["shape_folded"]} {i["datatype"]} in ({i["dma"]}), {o["shape_folded"]} {o["datatype"]} out
({o["dma"]}); batch up to {s["batch"]["max"]}; clock {s["fclk_mhz"]:g} MHz; board {s["board"]}.
Host pre-processing: {[op["op"] for op in s["host"]["pre"]] or "none"}; post-processing:
{[op["op"] for op in s["host"]["post"]] or "none"}.
Bitfile: {bit["path"] if bit else "not built (needs Vivado: fewerbits build ... --until bitstream in the Docker image)"}.
{runtime_weights_readme(s)}
## On the board (PYNQ image: Python 3 with numpy and pynq)

    scp -r deploy xilinx@BOARD:~/accel
    ssh xilinx@BOARD
    cd ~/accel
    sudo -E python3 -c "from driver import Accelerator; import numpy as np; \\
        acc = Accelerator('.', backend='pynq'); print(acc.throughput_test())"
    sudo -E python3 validate.py --dataset mnist-5k_test.npz --backend pynq

Export the dataset on the host with `fewerbits validate DEPLOY --dataset mnist-5k --save-npz
DEPLOY/mnist-5k_test.npz`.

## In Python

    from driver import Accelerator
    acc = Accelerator("path/to/deploy", backend="pynq")  # "python"/"rtlsim" off the board
    y = acc.execute(x)  # x: uint8/float array (N, *acc.input_shape)

`driver/` needs only numpy (and pynq for backend="pynq"); the `python` back end (development)
also needs finn-plus and qonnx, `rtlsim` needs fewerbits' Verilator simulator.
"""
