"""One readable training loop, and seeding.

Windows stay a strided view of the scaled series until a batch is gathered from them: no dataset
of copied windows, no DataLoader, no per-window Python work.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.optim.adam import adam as adam_update

from seqae import processes
from seqae.errors import TrainingError
from seqae.progress import ProgressBar

# loss_fn(net, inputs, targets) -> scalar loss; inputs differ from targets only in denoising training.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class TrainConfig:
    epochs: int = 30  # passes over the training windows
    batch_size: int = 64  # windows per optimiser step
    learning_rate: float = 1e-3  # Adam's step size
    weight_decay: float = 0.0  # Adam's L2 penalty
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    patience: int = 5  # epochs without a better validation loss before stopping; 0 = never stop early
    rise_patience: int = 0  # ... or this many, when the last is more than rise_tolerance above the best; 0 = off
    rise_tolerance: float = 0.05  # a share of the best validation loss
    noise_std: float = 0.0  # denoising: Gaussian noise added to the inputs, targets stay clean
    max_epoch_windows: int | None = None  # windows drawn at random (afresh each epoch) per epoch; None = all
    max_validation_windows: int | None = None  # a fixed random sample of the validation windows; None = all
    verbose: bool = True  # a progress bar per epoch on stderr


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1  # 0-based epoch whose weights were kept
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return {
            "train_loss": self.train_loss,
            "validation_loss": self.validation_loss,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
        }

    @classmethod
    def from_dict(cls, state: dict) -> "History":
        return cls(list(state["train_loss"]), list(state["validation_loss"]),
                   int(state["best_epoch"]), bool(state["stopped_early"]))


def train(net: nn.Module, loss_fn: LossFn, train_windows: torch.Tensor,
          validation_windows: torch.Tensor | None, config: TrainConfig,
          generator: torch.Generator) -> History:
    """Fit `net` with Adam, keeping the weights of the epoch with the best validation loss.

    Args:
        net: the module, trained in place.
        loss_fn: `loss_fn(net, inputs, targets)` -> scalar.
        train_windows: `(n_windows, window_size, n_features)`.
        validation_windows: held-out windows for early stopping, or None (then the training loss
            decides which epoch is kept and nothing stops early).
        config: epochs, batch size, optimiser settings, and the caps on the windows an epoch
            trains on (`max_epoch_windows`: a new random sample every epoch, so that every window
            has its turn over the fit) and validates on (`max_validation_windows`: one sample, drawn
            before the first epoch, so that the epochs' losses compare), and when to stop early
            (`patience`, `rise_patience`, `rise_tolerance`: see `stops_early`).
        generator: the source of every random draw (shuffling, sampling, noise), seeded by the caller.
    """
    optimizer = Adam(net.parameters(), config.learning_rate, config.weight_decay)
    device = next(net.parameters()).device  # batches are gathered on the CPU and moved there
    history = History()
    best_loss, best_state, since_best = math.inf, None, 0
    if validation_windows is not None:
        validation_windows = sample_windows(validation_windows, config.max_validation_windows, generator)
    n_windows = min(len(train_windows), config.max_epoch_windows or len(train_windows))
    progress = ProgressBar(config.epochs, "epochs", "epoch", enabled=config.verbose)
    for epoch in range(config.epochs):
        processes.exit_if_stopped()
        net.train()
        order = torch.randperm(len(train_windows), generator=generator)[:n_windows]
        total = 0.0
        for first in range(0, n_windows, config.batch_size):
            targets = train_windows[order[first:first + config.batch_size]].to(device)  # (batch, window, features)
            inputs = targets
            if config.noise_std > 0:
                noise = torch.randn(targets.shape, generator=generator).to(device)
                inputs = targets + config.noise_std * noise
            loss = loss_fn(net, inputs, targets)
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingError(
                    f"the training loss became {value} at epoch {epoch + 1}; lower the "
                    "learning rate, check the data for extreme values, or clip gradients (--grad-clip)"
                )
            optimizer.zero_grad()
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip, foreach=True)
            optimizer.step()
            total += value * len(targets)
        history.train_loss.append(total / n_windows)

        if validation_windows is not None:
            history.validation_loss.append(evaluate_loss(net, loss_fn, validation_windows, generator))
            monitored = history.validation_loss[-1]
        else:
            monitored = history.train_loss[-1]
        if monitored < best_loss:
            best_loss, since_best = monitored, 0
            best_state = copy.deepcopy(net.state_dict())
            history.best_epoch = epoch
        else:
            since_best += 1
        losses = {"train": f"{history.train_loss[-1]:.4g}"}
        if history.validation_loss:
            losses["val"] = f"{history.validation_loss[-1]:.4g}"
        progress.update(1, **losses)
        if validation_windows is not None and stops_early(config, since_best, monitored, best_loss):
            history.stopped_early = True
            break
    progress.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return history


def stops_early(config: TrainConfig, since_best: int, loss: float, best_loss: float) -> bool:
    """Whether `train` stops after an epoch whose validation loss is `loss`, `since_best` epochs
    after the best (`best_loss`): after `patience` epochs without a better loss, or `rise_patience`
    of them when `loss` is above the best by more than `rise_tolerance` of it (a loss that has risen
    clearly is given less time to come back than one on a plateau)."""
    if config.patience and since_best >= config.patience:
        return True
    return bool(config.rise_patience) and since_best >= config.rise_patience and \
        loss > best_loss + config.rise_tolerance * abs(best_loss)


def evaluate_loss(net: nn.Module, loss_fn: LossFn, windows: torch.Tensor,
                  generator: torch.Generator, batch_size: int = 256) -> float:
    """Mean loss over `windows` in evaluation mode, without gradients."""
    net.eval()
    device = next(net.parameters()).device
    total = 0.0
    with torch.inference_mode():
        for first in range(0, len(windows), batch_size):
            batch = windows[first:first + batch_size].to(device)
            total += loss_fn(net, batch, batch).item() * len(batch)
    value = total / len(windows)
    if not math.isfinite(value):
        raise TrainingError(f"the validation loss is {value}; lower the learning rate or check the data")
    return value


def sample_windows(windows: torch.Tensor, max_windows: int | None, generator: torch.Generator) -> torch.Tensor:
    """`max_windows` of `windows` drawn at random without replacement, in their original order; all
    of them (and no draw from `generator`) when there are no more than that or `max_windows` is None."""
    if max_windows is None or len(windows) <= max_windows:
        return windows
    chosen, _ = torch.randperm(len(windows), generator=generator)[:max_windows].sort()
    return windows[chosen]


class Adam:
    """Adam through torch's functional `torch.optim.adam.adam`: the arithmetic of
    `torch.optim.Adam(fused=True)` bit for bit (tests/test_training.py), with the fused kernel (one
    pass over the parameters per step) where this torch has it for the parameters' device.

    Not `torch.optim.Adam` itself: the first use of any `torch.optim.Optimizer` in a process imports
    torch._dynamo, which takes about 1.2 s (more than a whole fit of a 400-row file) and is never
    used by this loop.
    """

    def __init__(self, parameters, learning_rate: float, weight_decay: float):
        self.parameters = [p for p in parameters if p.requires_grad]
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        self.exp_avgs = [torch.zeros_like(p) for p in self.parameters]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.parameters]
        self.fused = bool(self.parameters) and self._fused_kernel(self.parameters[0].device)
        # step counters as torch.optim.Adam keeps them: float32, on the device when fused
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device if self.fused else "cpu")
                      for p in self.parameters]

    def zero_grad(self) -> None:
        for p in self.parameters:
            p.grad = None

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        chosen = [k for k, p in enumerate(self.parameters) if p.grad is not None]
        self._update([self.parameters[k] for k in chosen], [self.parameters[k].grad for k in chosen],
                     [self.exp_avgs[k] for k in chosen], [self.exp_avg_sqs[k] for k in chosen],
                     [self.steps[k] for k in chosen], self.fused)

    @torch.no_grad()
    def _update(self, params, grads, exp_avgs, exp_avg_sqs, steps, fused: bool) -> None:
        adam_update(params, grads, exp_avgs, exp_avg_sqs, [], steps, fused=fused, foreach=False,
                    amsgrad=False, beta1=0.9, beta2=0.999, lr=self.learning_rate, weight_decay=self.weight_decay,
                    eps=1e-8, maximize=False)

    def _fused_kernel(self, device: torch.device) -> bool:
        """Whether this torch has the fused kernel on `device` (CPU from torch 2.4): one update of a
        scratch tensor tells."""
        probe = torch.zeros(1, device=device)
        try:
            self._update([probe], [torch.zeros_like(probe)], [torch.zeros_like(probe)], [torch.zeros_like(probe)],
                         [torch.zeros((), device=device)], fused=True)
        except (RuntimeError, NotImplementedError):
            return False
        return True


def seeded_generator(random_state: int | None) -> torch.Generator:
    """A torch Generator seeded from `random_state` (or from fresh entropy when None)."""
    generator = torch.Generator()
    if random_state is None:
        generator.seed()
    else:
        generator.manual_seed(int(random_state))
    return generator
