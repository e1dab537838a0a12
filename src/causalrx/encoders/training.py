"""Losses and the training loop shared by every built-in encoder.

``L = L_risk + alpha * L_aux``: the risk loss is binary cross-entropy (optionally
class-weighted), focal loss, or the negative Cox partial log-likelihood; auxiliary
targets are standardised continuous (mean squared error) or 0/1 (cross-entropy), and
missing auxiliary labels are skipped. AdamW with weight decay, dropout in the network,
early stopping on a validation split of the training patients with the best weights
restored and batch-norm statistics re-estimated before each validation; CUDA when
available with ``device="auto"`` and bfloat16/float16 autocast there.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from causalrx.exceptions import ValidationError

RISK_LOSSES = ("bce", "focal", "cox")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (serialisable; saved with the encoder).

    Parameters
    ----------
    epochs, batch_size, learning_rate, weight_decay
        AdamW settings and the largest number of passes over the training patients.
    patience : int
        Stop after this many epochs without a better validation loss.
    validation_fraction : float
        Share of the training patients held out for early stopping (never test patients).
    risk_loss : {"bce", "focal", "cox"}
    class_weight : {None, "balanced"}
        ``"balanced"`` weights positives by ``n_negative / n_positive`` (BCE and focal).
    focal_gamma : float
        Focusing parameter of the focal loss (Lin et al. 2017).
    aux_weight : float
        Weight of the auxiliary loss.
    device : {"auto", "cpu", "cuda", ...}
    amp : bool
        Mixed precision on CUDA (ignored on CPU).
    deterministic : bool
        On CUDA, cuDNN's deterministic algorithms while training, so the same seed gives
        the same weights; ``False`` allows its faster, non-deterministic ones.
    progress : bool
        Show a progress bar over epochs.
    """

    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 6
    validation_fraction: float = 0.2
    risk_loss: str = "bce"
    class_weight: str | None = None
    focal_gamma: float = 2.0
    aux_weight: float = 0.5
    device: str = "auto"
    amp: bool = True
    deterministic: bool = True
    progress: bool = False

    def check(self) -> None:
        if self.risk_loss not in RISK_LOSSES:
            raise ValidationError(f"risk_loss: expected one of {RISK_LOSSES}, got {self.risk_loss!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValidationError(f"class_weight: expected None or 'balanced', got {self.class_weight!r}")
        if not 0 < self.validation_fraction < 0.5:
            raise ValidationError(f"validation_fraction: expected a share in (0, 0.5), got {self.validation_fraction!r}")
        for name in ("epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValidationError(f"{name}: expected a positive integer, got {value!r}")


def resolve_device(device: str) -> torch.device:
    """The torch device for ``"auto"``, ``"cpu"`` or ``"cuda"``; every torch fit calls it first, so it also
    lowers torch's and BLAS's CPU threads to the CPUs this process may use (:func:`causalrx.parallel.limit_threads`)."""
    from causalrx.parallel import limit_threads

    limit_threads()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValidationError(f"device: {device!r} was requested but CUDA is not available on this machine")
    return dev


def cox_partial_nll(log_hazard: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood (Breslow ties) per event, over the patients given."""
    order = torch.argsort(time, descending=True)
    lh, ev = log_hazard[order], event[order]
    log_risk_set = torch.logcumsumexp(lh, dim=0)
    n_events = ev.sum()
    if n_events == 0:
        return lh.sum() * 0.0
    return -((lh - log_risk_set) * ev).sum() / n_events


def focal_loss(logit: torch.Tensor, y: torch.Tensor, gamma: float, pos_weight: torch.Tensor | None) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logit, y, reduction="none", pos_weight=pos_weight)
    p = torch.sigmoid(logit)
    p_t = p * y + (1 - p) * (1 - y)
    return ((1 - p_t) ** gamma * bce).mean()


def risk_loss(config: TrainConfig, output: torch.Tensor, target: dict[str, torch.Tensor], pos_weight) -> torch.Tensor:
    if config.risk_loss == "cox":
        return cox_partial_nll(output, target["time"], target["event"])
    if config.risk_loss == "focal":
        return focal_loss(output, target["y"], config.focal_gamma, pos_weight)
    return F.binary_cross_entropy_with_logits(output, target["y"], pos_weight=pos_weight)


def aux_loss(output: torch.Tensor | None, target: dict[str, torch.Tensor]) -> torch.Tensor:
    if output is None:
        return torch.zeros((), device=target["y"].device if "y" in target else target["time"].device)
    aux, binary = target["aux"], target["aux_binary"]
    observed = ~torch.isnan(aux)
    filled = torch.where(observed, aux, torch.zeros_like(aux))
    mse = (output - filled) ** 2
    bce = F.binary_cross_entropy_with_logits(output, filled, reduction="none")
    per = torch.where(binary[None, :], bce, mse) * observed
    return per.sum() / observed.sum().clamp(min=1)


def _take(tree, idx):
    if isinstance(tree, dict):
        return {k: _take(v, idx) for k, v in tree.items()}
    return tree[idx]


def _to(tree, device):
    if isinstance(tree, dict):
        return {k: _to(v, device) for k, v in tree.items()}
    return tree.to(device, non_blocking=True)


def train_network(net: torch.nn.Module, inputs: dict, target: dict, train_idx: np.ndarray, val_idx: np.ndarray,
                  config: TrainConfig, seed: int, loss_fn=None) -> dict:  # fmt: skip
    """Fit ``net`` in place on rows ``train_idx`` with early stopping on ``val_idx``.

    ``inputs`` and ``target`` are (nested) dicts of CPU tensors over all rows; batches are
    moved to the device as they are drawn. ``loss_fn(net, inputs, target) -> (training loss,
    validation loss)`` replaces the encoders' risk + auxiliary loss (the effect learners of
    :mod:`causalrx.effects.neural` train with it). Returns the history (losses per epoch,
    best epoch, samples per second, device).
    """
    config.check()
    device = resolve_device(config.device)
    deterministic = device.type == "cuda" and config.deterministic
    cudnn = torch.backends.cudnn
    with cudnn.flags(enabled=cudnn.enabled, benchmark=False, deterministic=True) if deterministic else contextlib.nullcontext():
        return _train(net, inputs, target, train_idx, val_idx, config, seed, device, loss_fn)


def _train(net, inputs, target, train_idx, val_idx, config: TrainConfig, seed: int, device: torch.device, loss_fn=None) -> dict:
    import time as _time

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    amp = config.amp and device.type == "cuda"
    dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    pos_weight = None
    if config.class_weight == "balanced" and config.risk_loss != "cox":
        y = target["y"][train_idx]
        pos_weight = ((len(y) - y.sum()) / y.sum().clamp(min=1)).to(device)
    val_inputs, val_target = _to(_take(inputs, torch.as_tensor(val_idx)), device), _to(_take(target, torch.as_tensor(val_idx)), device)
    train_idx_t = torch.as_tensor(train_idx)
    best, best_state, best_epoch, stale = np.inf, None, -1, 0
    history = {"train_loss": [], "val_loss": [], "device": str(device)}
    seen, spent = 0, 0.0
    bar = tqdm(range(config.epochs), desc="train encoder", disable=not config.progress, unit="epoch")
    for epoch in bar:
        net.train()
        perm = train_idx_t[torch.randperm(len(train_idx_t), generator=gen)]
        total, start = 0.0, _time.perf_counter()
        for i in range(0, len(perm), config.batch_size):
            rows = perm[i : i + config.batch_size]
            if len(rows) < 2:
                continue
            xb, tb = _to(_take(inputs, rows), device), _to(_take(target, rows), device)
            with torch.autocast(device.type, dtype=dtype, enabled=amp):
                if loss_fn is not None:
                    loss = loss_fn(net, xb, tb)[0]
                else:
                    _, out, aux = net(xb)
                    loss = risk_loss(config, out.float(), tb, pos_weight) + config.aux_weight * aux_loss(None if aux is None else aux.float(), tb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(rows)
        precise_batchnorm(net, inputs, perm[:PRECISE_BN_ROWS], config.batch_size, device, amp, dtype)
        if device.type == "cuda":
            torch.cuda.synchronize()
        spent += _time.perf_counter() - start
        seen += len(perm)
        if loss_fn is not None:
            net.eval()
            with torch.no_grad():
                val = float(loss_fn(net, val_inputs, val_target)[1])
        else:
            val = evaluate_loss(net, val_inputs, val_target, config, pos_weight)
        history["train_loss"].append(total / max(len(perm), 1))
        history["val_loss"].append(val)
        bar.set_postfix(val_loss=f"{val:.4f}")
        if val < best - 1e-5:
            best, best_epoch, stale = val, epoch, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    history.update(best_epoch=best_epoch, best_val_loss=float(best), samples_per_second=seen / max(spent, 1e-9))
    return history


PRECISE_BN_ROWS = 4096


@torch.no_grad()
def precise_batchnorm(net: torch.nn.Module, inputs: dict, rows: torch.Tensor, batch_size: int, device: torch.device,
                      amp: bool, dtype: torch.dtype) -> None:  # fmt: skip
    """Re-estimate every batch-norm layer's population statistics with the current weights.

    The running averages (momentum 0.1) lag behind weights that move fast, so in the first
    epochs evaluation-mode outputs, and early stopping on them, can be far off ("precise
    BN", Wu & Johnson 2021, arXiv:2105.07576). Averages the batch statistics of ``rows``
    (the epoch's first rows, in its shuffled order) with dropout off.
    """
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    net.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
        m.train()
    for i in range(0, len(rows), batch_size):
        chunk = rows[i : i + batch_size]
        if len(chunk) < 2:
            continue
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            net(_to(_take(inputs, chunk), device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    net.eval()


@torch.no_grad()
def evaluate_loss(net, inputs, target, config: TrainConfig, pos_weight) -> float:
    net.eval()
    _, out, aux = net(inputs)
    loss = risk_loss(config, out.float(), target, pos_weight) + config.aux_weight * aux_loss(None if aux is None else aux.float(), target)
    return float(loss)
