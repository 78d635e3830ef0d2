"""Every bad input of issue 17 through the real CLI, in a subprocess: its exit code (2 for a bad
option, 1 for a bad file or a refused folder), exactly one stderr line with the expected wording,
no traceback, and the folder tree unchanged where nothing may be written. Plus two concurrent
builds into one --out (one refused naming the holder's PID, one complete), a full disk
(RLIMIT_FSIZE in the child) and a deploy failure that must not leave a published half-result.

One tiny model (digits, 1 epoch of 3 steps, built until estimates) is made once per module."""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import FEWERBITS

TRAIN = ["--dataset", "digits", "--epochs", "1", "--max-steps", "3", "-q"]


def _cli(*args: str, cwd: Path | None = None, preexec_fn=None, timeout: int = 300, env=None):
    return subprocess.run(
        [*FEWERBITS, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        preexec_fn=preexec_fn,
        env=env,
    )


def with_node(src: Path, op: str, dst: Path, **attrs) -> None:
    """``src`` (a QONNX model) with one ``op`` node named my_<op> appended after its output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    out = g.output[0]
    shape = [d.dim_value for d in out.type.tensor_type.shape.dim]
    inputs, dtype, oshape = [out.name], TensorProto.FLOAT, list(shape)
    if op == "LayerNormalization":  # no epsilon, no axis: ONNX's defaults
        for name, v in (("ln_scale", 1.0), ("ln_bias", 0.0)):
            g.initializer.append(numpy_helper.from_array(np.full(shape[-1], v, np.float32), name))
        inputs += ["ln_scale", "ln_bias"]
    if op == "ArgMax":
        dtype, oshape[1] = TensorProto.INT64, 1
    g.node.append(helper.make_node(op, inputs, [f"{op}_out"], name=f"my_{op.lower()}", **attrs))
    g.output.remove(out)
    g.output.append(helper.make_tensor_value_info(f"{op}_out", dtype, oshape))
    onnx.save(m, str(dst))


#: a sitecustomize that makes `import rich` fail as if the package were not installed
NO_RICH = """import sys
class _NoRich:
    def find_spec(self, name, path=None, target=None):
        if name == "rich" or name.startswith("rich."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoRich())
"""


def tree_hash(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` (hidden ones too) with its content hash."""
    out: dict[str, str] = {}
    for p in sorted(Path(root).rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """work/t (train), work/e (export), work/b (build until estimates, with deploy/)."""
    w = tmp_path_factory.mktemp("bad")
    for args in (
        ["train", *TRAIN, "--out", str(w / "t")],
        ["export", str(w / "t"), "--out", str(w / "e"), "-q"],
        ["build", str(w / "e"), "--out", str(w / "b"), "--until", "estimates", "-q"],
    ):
        r = _cli(*args)
        assert r.returncode == 0, r.stderr
    assert (w / "b" / "deploy" / "settings.json").is_file()
    digits = np.random.default_rng(0).integers(0, 256, (4, 1, 8, 8)).astype(np.float32)
    inputs = w / "inputs"
    inputs.mkdir()
    np.save(inputs / "nan.npy", np.full((2, 1, 8, 8), np.nan, np.float32))
    np.save(inputs / "scaled.npy", digits / 255.0)
    many = np.random.default_rng(1).integers(0, 256, (300, 1, 8, 8)).astype(np.float32)
    np.save(inputs / "many.npy", many)  # its 300 x 10 outputs exceed the disk-full test's limit
    np.save(inputs / "empty_array.npy", np.zeros((0, 1, 8, 8), np.float32))
    np.savez(inputs / "x.npz", x=digits)
    np.save(inputs / "text_as_obj.npy", np.array(["hello"], dtype=object), allow_pickle=True)
    (inputs / "zero.npy").write_bytes(b"")
    (inputs / "text.npy").write_text("1 2 3\n")
    (inputs / "empty.onnx").write_bytes(b"")
    (inputs / "text.onnx").write_text("not a model\n")
    (inputs / "trunc.onnx").write_bytes((w / "e" / "model.onnx").read_bytes()[:200])
    (inputs / "garbage.pt").write_bytes(os.urandom(512))
    (inputs / "a_file").write_text("precious\n")
    (inputs / "outdir.npy").mkdir()
    (w / "mine").mkdir()
    (w / "mine" / "notes.txt").write_text("precious\n")
    for op, attrs in GRAPH_OPS.items():
        with_node(w / "e" / "model.onnx", op, inputs / f"{op}.onnx", **attrs)
    (w / "no_rich").mkdir()
    (w / "no_rich" / "sitecustomize.py").write_text(NO_RICH)
    return w


#: nodes appended to the exported model for the graph cases, with their attributes
GRAPH_OPS = {
    "Sigmoid": {},
    "Tanh": {},
    "Erf": {},
    "LayerNormalization": {},
    "Softmax": {"axis": 1},
    "ArgMax": {"axis": 1, "keepdims": 1},
    "Abs": {},
}


@dataclass
class Case:
    """One bad invocation: its arguments (``{w}`` is the work folder), exit code and wording."""

    name: str
    args: list[str]
    code: int
    wording: str  # a regex searched in the one `fewerbits CMD: error:` line
    env: dict[str, str] = field(default_factory=dict)  # added to the environment ({w} too)

    def argv(self, w: Path) -> list[str]:
        return [a.format(w=w) for a in self.args]

    def environ(self, w: Path) -> dict[str, str] | None:
        if not self.env:
            return None
        return {**os.environ, **{k: v.format(w=w) for k, v in self.env.items()}}


CASES = [
    # ---- bad files ---------------------------------------------------------------------------
    Case("onnx-empty", ["build", "{w}/inputs/empty.onnx", "--out", "{w}/o1"], 1, r"is empty \(0 bytes\)"),
    Case("onnx-text", ["build", "{w}/inputs/text.onnx", "--out", "{w}/o2"], 1, r"not a readable ONNX|holds no ONNX graph"),
    Case("onnx-truncated", ["build", "{w}/inputs/trunc.onnx", "--out", "{w}/o3"], 1, r"not a readable ONNX|holds no ONNX graph"),
    Case("pt-garbage", ["export", "{w}/inputs/garbage.pt", "--out", "{w}/o4"], 1, r"garbage\.pt cannot be read"),
    Case("infer-npy-0-bytes", ["infer", "{w}/b/deploy", "--input", "{w}/inputs/zero.npy", "--out", "{w}/y.npy"], 1, r"is empty \(0 bytes\)"),
    Case("infer-npy-text", ["infer", "{w}/b/deploy", "--input", "{w}/inputs/text.npy", "--out", "{w}/y.npy"], 1, r"is not a \.npy file"),
    Case("infer-npy-pickled", ["infer", "{w}/b/deploy", "--input", "{w}/inputs/text_as_obj.npy", "--out", "{w}/y.npy"], 1, r"holds Python objects"),
    Case("infer-npz", ["infer", "{w}/b/deploy", "--input", "{w}/inputs/x.npz", "--out", "{w}/y.npy"], 1, r"is an \.npz archive"),
    Case("infer-out-is-dir", ["infer", "{w}/b/deploy", "--input", "{w}/inputs/scaled.npy", "--out", "{w}/inputs/outdir.npy"], 1, r"--out .*outdir\.npy is a folder"),
    Case("verify-nan", ["verify", "{w}/b", "--input", "{w}/inputs/nan.npy"], 1, r"NaN or infinite"),
    Case("verify-text", ["verify", "{w}/b", "--input", "{w}/inputs/text.npy"], 1, r"is not a \.npy file"),
    Case("verify-empty", ["verify", "{w}/b", "--input", "{w}/inputs/empty_array.npy"], 1, r"holds no values"),
    Case("verify-0-bytes", ["verify", "{w}/b", "--input", "{w}/inputs/zero.npy"], 1, r"is empty \(0 bytes\)"),
    Case("verify-scaled-0-1", ["verify", "{w}/b", "--input", "{w}/inputs/scaled.npy"], 1, r"raw 0\.\.255 .*scaled to 0\.\.1"),
    # ---- graphs FINN cannot build (or only as 0-LUT float layers): refused before any step ------
    Case("build-sigmoid", ["build", "{w}/inputs/Sigmoid.onnx", "--out", "{w}/o8"], 1, r"node my_sigmoid \(Sigmoid\): a float activation FINN maps only on Versal .*quantized activation"),
    Case("build-tanh", ["build", "{w}/inputs/Tanh.onnx", "--out", "{w}/o8"], 1, r"node my_tanh \(Tanh\): a float activation FINN maps only on Versal"),
    Case("build-erf", ["build", "{w}/inputs/Erf.onnx", "--out", "{w}/o8"], 1, r"node my_erf \(Erf\): no FINN hardware layer.*quantized activation"),
    Case("build-layernorm-no-epsilon", ["build", "{w}/inputs/LayerNormalization.onnx", "--out", "{w}/o8"], 1, r"node my_layernormalization \(LayerNormalization\): .*LayerNorm_hls.*0 LUT / 0 DSP.*use BatchNorm"),
    Case("build-softmax", ["build", "{w}/inputs/Softmax.onnx", "--out", "{w}/o8"], 1, r"node my_softmax \(Softmax\): .*HWSoftmax_hls.*0 LUT / 0 DSP.*argmax .* unchanged"),
    Case("build-argmax-at-end", ["build", "{w}/inputs/ArgMax.onnx", "--out", "{w}/o8"], 1, r"node my_argmax \(ArgMax\): no FINN hardware layer, and the host driver cannot run it"),
    Case("build-abs-at-end", ["build", "{w}/inputs/Abs.onnx", "--out", "{w}/o8"], 1, r"node my_abs \(Abs\): no FINN hardware layer"),
    # ---- a broken install ----------------------------------------------------------------------
    Case("doctor-rich-missing", ["doctor"], 1, r"the Python package 'rich' is not installed; install fewerbits with its dependencies", env={"PYTHONPATH": "{w}/no_rich"}),
    # ---- bad options (exit 2) ----------------------------------------------------------------
    Case("train-lr-negative", ["train", *TRAIN, "--lr", "-1", "--out", "{w}/o5"], 2, r"--lr -1: give a learning rate > 0"),
    Case("build-clock-0", ["build", "{w}/e", "--out", "{w}/o6", "--clock-ns", "0"], 2, r"--clock-ns 0: give a clock period"),
    Case("build-clock-negative", ["build", "{w}/e", "--out", "{w}/o6", "--clock-ns", "-5"], 2, r"--clock-ns -5: give a clock period"),
    Case("build-fps-0", ["build", "{w}/e", "--out", "{w}/o6", "--target-fps", "0"], 2, r"--target-fps 0"),
    Case("build-board-part", ["build", "{w}/e", "--out", "{w}/o6", "--board", "Pynq-Z1", "--part", "xczu7ev-ffvc1156-2-e"], 2, r"--board Pynq-Z1 has part .*give --board ZCU104"),
    Case("run-float-scheme", ["run", *TRAIN, "--scheme", "float", "--out", "{w}/o7"], 2, r"--scheme float: not deployable"),
    Case("build-fit-0", ["build", "{w}/e", "--out", "{w}/o6", "--fit", "0"], 2, r"--fit 0: give a fraction of the part"),
    Case("train-epochs-negative", ["train", *TRAIN, "--epochs", "-1", "--out", "{w}/o5"], 2, r"--epochs -1: must be >= 0"),
    Case("train-unknown-dataset", ["train", *TRAIN, "--dataset", "imagenet", "--out", "{w}/o5"], 2, r"--dataset 'imagenet' is unknown"),
    Case("run-lr-negative", ["run", *TRAIN, "--lr", "-1", "--out", "{w}/o7"], 2, r"--lr -1: give a learning rate > 0"),
    Case("run-unknown-skip-level", ["run", *TRAIN, "--skip", "nope", "--out", "{w}/o7"], 2, r"--skip nope: no such level"),
    Case("run-clock-0", ["run", *TRAIN, "--clock-ns", "0", "--out", "{w}/o7"], 2, r"--clock-ns 0: give a clock period"),
    Case("verify-samples-negative", ["verify", "{w}/b", "--samples", "-1"], 2, r"--samples -1"),
    Case("verify-unknown-level", ["verify", "{w}/b", "--skip", "nope"], 2, r"--skip nope: no such level"),
    Case("infer-unknown-simulator", ["infer", "{w}/b/deploy", "--input", "{w}/inputs/scaled.npy", "--out", "{w}/y.npy", "--simulator", "icarus"], 2, r"simulator 'icarus' unknown"),
    Case("validate-limit-negative", ["validate", "{w}/b/deploy", "--dataset", "digits", "--limit", "-1"], 2, r"--limit -1"),
    # ---- folders that must not be replaced ------------------------------------------------------
    Case("train-out-is-file", ["train", *TRAIN, "--out", "{w}/inputs/a_file"], 1, r"is a file, not a folder"),
    Case("export-out-is-file", ["export", "{w}/t", "--out", "{w}/inputs/a_file"], 1, r"is a file, not a folder"),
    Case("build-into-foreign-folder", ["build", "{w}/e", "--out", "{w}/mine", "--until", "estimates"], 1, r"is not a fewerbits build folder"),
    Case("build-other-options", ["build", "{w}/e", "--out", "{w}/b", "--until", "estimates", "--board", "ZCU104"], 1, r"build folder made with other options.*--force"),
    Case("export-into-train-folder", ["export", "{w}/t", "--out", "{w}/t"], 1, r"holds a fewerbits train folder, not an export folder.*--force"),
    Case("train-into-build-folder", ["train", *TRAIN, "--out", "{w}/b"], 1, r"holds a fewerbits build folder, not a train folder"),
    Case("run-into-build-folder", ["run", *TRAIN, "--out", "{w}/b"], 1, r"holds a fewerbits build folder, not a run folder.*--force"),
    Case("run-into-foreign-folder", ["run", *TRAIN, "--out", "{w}/mine"], 1, r"is not a fewerbits run folder"),
]  # fmt: skip


@pytest.fixture(scope="module")
def results(work) -> tuple[dict[str, subprocess.CompletedProcess], dict, dict]:
    """Every case run (3 at a time: each pays torch's import), with the tree before and after."""
    before = tree_hash(work)
    with ThreadPoolExecutor(3) as pool:
        runs = dict(
            zip(
                [c.name for c in CASES],
                pool.map(lambda c: _cli(*c.argv(work), env=c.environ(work)), CASES),
                strict=True,
            )
        )
    table = os.environ.get("FEWERBITS_BAD_INPUTS_TABLE")  # the case table for an issue note
    if table:
        rows = ["| case | exit | stderr |", "|---|---:|---|"]
        for c in CASES:
            line = runs[c.name].stderr.strip().replace(str(work), "W").replace("|", "\\|")
            rows.append(f"| {c.name} | {runs[c.name].returncode} | {line} |")
        Path(table).write_text("\n".join(rows) + "\n")
    return runs, before, tree_hash(work)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_one_line(results, case: Case):
    runs, _, _ = results
    r = runs[case.name]
    command = case.args[0]
    lines = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1 and lines[0].startswith(f"fewerbits {command}: error: "), r.stderr
    assert re.search(case.wording, lines[0]), lines[0]
    assert r.returncode == case.code, r.stderr


def test_bad_inputs_wrote_nothing(results):
    """Not one file of the work folder changed, appeared or vanished (no partial files, no
    staging debris, no lock files)."""
    _, before, after = results
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert not changed, sorted(changed)


def test_version():
    r = _cli("--version")
    assert r.returncode == 0 and re.fullmatch(r"fewerbits \S+\n", r.stdout), r.stdout


def test_two_concurrent_builds_one_refused_one_complete(work, tmp_path):
    out = tmp_path / "c"
    cmd = [*FEWERBITS, "build", str(work / "e"), "--out", str(out), "--until", "estimates", "-q"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / ".c.lock"
    for _ in range(600):  # the first holds the lock once it has imported and checked options
        if lock.is_file() and lock.read_text().strip():
            break
        if first.poll() is not None:
            break
        subprocess.run(["sleep", "0.05"])
    second = _cli("build", str(work / "e"), "--out", str(out), "--until", "estimates", "--board", "ZCU104", "-q")  # fmt: skip
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert second.returncode == 1
    line = second.stderr.strip().splitlines()
    assert (
        len(line) == 1
        and f"being written by another fewerbits process (PID {first.pid})" in line[0]
    )
    assert (out / "deploy" / "settings.json").is_file() and (out / "report.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"], "no lock or staging debris"


def _file_size_limit(nbytes: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return limit


def test_disk_full_one_line_and_nothing_half_written(work, tmp_path):
    """A file-size limit below the checkpoint's (the model's, the outputs') size: the write
    fails with EFBIG (Python ignores SIGXFSZ), or short for numpy; one line, exit 1, no output
    folder, no temp files, no folder created for the output file."""
    for args in (
        ["train", *TRAIN, "--out", str(tmp_path / "t")],
        ["export", str(work / "t"), "--out", str(tmp_path / "e"), "-q"],
        ["infer", str(work / "b" / "deploy"), "--input", str(work / "inputs" / "many.npy")]
        + ["--out", str(tmp_path / "y" / "y.npy"), "-q"],
    ):
        r = _cli(*args, preexec_fn=_file_size_limit(4096))
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert len(lines) == 1 and "no space left" in lines[0], r.stderr
        if args[0] == "infer":  # the file the user named
            assert f"writing {tmp_path / 'y' / 'y.npy'} " in lines[0], lines[0]
        assert list(tmp_path.iterdir()) == [], sorted(p.name for p in tmp_path.iterdir())


def test_failed_replacement_keeps_the_previous_result(work, tmp_path):
    """A forced rebuild that fails (an unknown folding node) leaves the old build intact, and
    keeps the failed one in .OUT.failed, named in the error."""
    out = tmp_path / "b"
    r = _cli("build", str(work / "e"), "--out", str(out), "--until", "estimates", "-q")
    assert r.returncode == 0, r.stderr
    before = tree_hash(out)
    bad = tmp_path / "fold.json"
    bad.write_text('{"Defaults": {}, "NoSuchNode_0": {"PE": 1}}')
    r = _cli("build", str(work / "e"), "--out", str(out), "--until", "estimates", "--folding", str(bad), "--force", "-q")  # fmt: skip
    assert r.returncode == 1 and ".b.failed" in r.stderr, r.stderr
    assert tree_hash(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.failed", "b", "fold.json"]


RUN = ["run", *TRAIN, "--until", "estimates", "--verify-samples", "5"]


def test_run_is_published_whole_and_the_old_one_survives_kill_and_failure(tmp_path):
    """`run` stages the whole run folder: the published one holds no staging path (its deploy/
    names the final build); a run killed mid-way and a run that fails in the build both leave
    the previous run folder exactly as it was; the next start clears the killed run's staging
    folder, and the failed one is kept in .r.failed, named in the error line."""
    out = tmp_path / "r"
    r = _cli(*RUN, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "done in" in r.stdout and str(out / "report.md") in r.stdout
    settings = (out / "build" / "deploy" / "settings.json").read_text()
    assert f'"build_dir": "{out / "build"}"' in settings
    texts = [p for p in out.rglob("*") if p.suffix in (".md", ".json", ".yaml") and p.is_file()]
    assert texts and not [p for p in texts if ".r.partial" in p.read_text()]
    levels = {lv["name"]: lv for lv in json.loads((out / "report.json").read_text())["verification"]["levels"]}  # fmt: skip
    assert "left out by `fewerbits run` by default" in levels["rtl_nodes"]["reason"]
    before = tree_hash(out)

    killed = subprocess.Popen(
        [*FEWERBITS, *RUN, "--seed", "1", "--force", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stage = tmp_path / ".r.partial"
    for _ in range(600):
        if stage.is_dir() or killed.poll() is not None:
            break
        subprocess.run(["sleep", "0.05"])
    subprocess.run(["sleep", "1"])  # into training
    assert killed.poll() is None, "the run ended before it could be killed"
    killed.kill()
    killed.wait(timeout=60)
    assert stage.is_dir() and tree_hash(out) == before

    bad = tmp_path / "fold.json"
    bad.write_text('{"Defaults": {}, "NoSuchNode_0": {"PE": 1}}')
    r = _cli(*RUN, "--folding", str(bad), "--force", "--out", str(out))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "NoSuchNode_0" in lines[0], r.stderr
    assert f"kept in {tmp_path / '.r.failed'}" in lines[0], lines[0]
    assert tree_hash(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r.failed", "fold.json", "r"]
