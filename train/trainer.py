"""Quantization-aware training: checkpoint.pt + train.json from a TrainConfig."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from fewerbits.config import TrainConfig, write_json

from .datasets import Dataset, load_dataset
from .models import build_model
from .schemes import make_scheme

CHECKPOINT = "checkpoint.pt"
TRAIN_JSON = "train.json"


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 500) -> float:
    """Top-1 accuracy on uint8 images."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(torch.from_numpy(x[i : i + batch].astype(np.float32)))
            correct += int((out.argmax(1).numpy() == y[i : i + batch]).sum())
    return correct / max(len(x), 1)


def rebuild(checkpoint: dict) -> nn.Module:
    """Rebuild the model recorded in a checkpoint dict and load its weights (eval mode)."""
    cfg = TrainConfig(**checkpoint["config"])
    scheme = make_scheme(cfg.scheme, cfg.wbits, cfg.abits)
    model = build_model(
        cfg.model, scheme, tuple(checkpoint["input_shape"]), checkpoint["classes"], cfg.width
    )
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """Load ``checkpoint.pt`` (a file or a directory containing it)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return rebuild(ckpt), ckpt


def train(cfg: TrainConfig, out: Path, data: Dataset | None = None, progress: bool = True) -> dict:
    """Train a model and write ``out/checkpoint.pt`` and ``out/train.json``; return train.json."""
    out = Path(out)
    seed_everything(cfg.seed)
    data = data or load_dataset(cfg.dataset, Path(cfg.data_file) if cfg.data_file else None)
    scheme = make_scheme(cfg.scheme, cfg.wbits, cfg.abits)
    model = build_model(cfg.model, scheme, data.input_shape, data.classes, cfg.width)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps_per_epoch = (len(data.x_train) + cfg.batch_size - 1) // cfg.batch_size
    if cfg.max_steps:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(1, cfg.epochs * steps_per_epoch)
    )
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    t0 = time.time()
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(data.x_train), generator=gen).numpy()
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"train epoch {epoch + 1}/{cfg.epochs}",
            disable=not progress,
            leave=False,
        )
        total = 0.0
        for step in bar:
            idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            xb = torch.from_numpy(data.x_train[idx].astype(np.float32))
            yb = torch.from_numpy(data.y_train[idx])
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        acc = evaluate(model, data.x_test, data.y_test)
        history.append({"epoch": epoch + 1, "loss": total / steps_per_epoch, "test_accuracy": acc})
    seconds = time.time() - t0
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "config": asdict(cfg),
        "state_dict": model.state_dict(),
        "input_shape": list(data.input_shape),
        "classes": data.classes,
        "input_normalisation": "x / 255 inside the model; raw uint8 pixel values in",
        "deployable": scheme.deployable,
    }
    tmp = out / (CHECKPOINT + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(out / CHECKPOINT)
    report = {
        "model": cfg.model,
        "scheme": cfg.scheme,
        "wbits": scheme.wbits,
        "abits": scheme.abits,
        "dataset": cfg.dataset,
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "test_accuracy": history[-1]["test_accuracy"]
        if history
        else evaluate(model, data.x_test, data.y_test),
        "train_seconds": round(seconds, 2),
        "history": history,
    }
    write_json(out / TRAIN_JSON, report)
    return report
