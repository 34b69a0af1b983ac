"""The training loop, batching of windows for scoring, and seeding."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from seqae.errors import TrainingError
from seqae.training import Adam, History, TrainConfig, evaluate_loss, seeded_generator, train
from seqae.windows import batched_windows, window_tensor
from seqae.windows import sliding_windows, window_starts


def series(n_timepoints=120, n_features=2, seed=0) -> np.ndarray:
    t = np.arange(n_timepoints)[:, None]
    rng = np.random.default_rng(seed)
    return (np.sin(t / 5.0 + np.arange(n_features)) + 0.05 * rng.normal(size=(n_timepoints, n_features))
            ).astype(np.float32)


def mse(net, inputs, targets):
    return nn.functional.mse_loss(net(inputs), targets)


def tiny_net(seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))  # acts on the feature axis


def quiet(**kwargs) -> TrainConfig:
    return TrainConfig(verbose=False, **kwargs)


@pytest.mark.parametrize("stride", [1, 3, 7])
def test_window_tensor_matches_sliding_windows(stride):
    values = series(50)
    expected, _ = sliding_windows(values, 8, stride)
    windows = window_tensor(values, 8, stride)
    assert windows.shape == (len(window_starts(50, 8, stride)), 8, 2)
    np.testing.assert_array_equal(windows.numpy(), expected)


@pytest.mark.parametrize("stride, batch_size", [(1, 7), (1, 1000), (4, 3), (5, 2)])
def test_batched_windows_cover_every_window_once_in_order(stride, batch_size):
    values = series(53)
    batches = list(batched_windows(values, 8, stride, batch_size))
    starts = np.concatenate([s for _, s in batches])
    np.testing.assert_array_equal(starts, window_starts(53, 8, stride))
    windows = torch.cat([w for w, _ in batches])
    np.testing.assert_array_equal(windows.numpy(), window_tensor(values, 8, stride).numpy())
    assert all(w.is_contiguous() and w.dtype == torch.float32 and len(w) <= batch_size for w, _ in batches)


def test_seeded_generator_repeats_its_draws():
    first = torch.randn(5, generator=seeded_generator(7))
    assert torch.equal(first, torch.randn(5, generator=seeded_generator(7)))
    assert not torch.equal(first, torch.randn(5, generator=seeded_generator(8)))
    assert not torch.equal(torch.randn(5, generator=seeded_generator(None)),
                           torch.randn(5, generator=seeded_generator(None)))


def test_train_lowers_the_loss_and_keeps_a_history():
    windows = window_tensor(series(), 10)
    net = tiny_net()
    before = evaluate_loss(net, mse, windows, seeded_generator(0))
    history = train(net, mse, windows[:80], windows[80:], quiet(epochs=8, batch_size=16, learning_rate=0.01),
                    seeded_generator(0))
    assert len(history.train_loss) == len(history.validation_loss) == 8
    assert history.validation_loss[history.best_epoch] == min(history.validation_loss)
    assert evaluate_loss(net, mse, windows[80:], seeded_generator(0)) == pytest.approx(
        history.validation_loss[history.best_epoch])  # the best epoch's weights are the ones kept
    assert history.train_loss[-1] < before
    assert not net.training  # left in evaluation mode


def test_train_is_reproducible_with_the_same_seed():
    windows = window_tensor(series(), 10)
    config = quiet(epochs=3, batch_size=16, noise_std=0.1)
    net_a, net_b = tiny_net(), tiny_net()
    history_a = train(net_a, mse, windows, None, config, seeded_generator(5))
    history_b = train(net_b, mse, windows, None, config, seeded_generator(5))
    assert history_a.train_loss == history_b.train_loss
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(a, b)


def test_early_stopping_keeps_the_best_epoch_weights():
    windows = window_tensor(series(), 10)
    snapshots = []

    def worsening_validation(net, inputs, targets):
        if net.training:
            return mse(net, inputs, targets)
        snapshots.append(copy.deepcopy(net.state_dict()))
        return torch.tensor(float(len(snapshots)))  # 1, 2, 3, ...: epoch 0 is the best

    net = tiny_net()
    history = train(net, worsening_validation, windows[:80], windows[80:],
                    quiet(epochs=20, patience=2, batch_size=16, learning_rate=0.05), seeded_generator(0))
    assert history.stopped_early
    assert history.best_epoch == 0
    assert len(history.train_loss) == 3  # epoch 0, then two without improvement
    for name, value in net.state_dict().items():
        assert torch.equal(value, snapshots[0][name])


def scripted_validation(losses):
    """A loss function whose validation passes give `losses`, one per epoch, then the last again."""
    calls = []

    def loss_fn(net, inputs, targets):
        if net.training:
            return mse(net, inputs, targets)
        calls.append(None)
        return torch.tensor(losses[min(len(calls), len(losses)) - 1])
    return loss_fn


@pytest.mark.parametrize("losses, rise_patience, epochs_run", [
    # risen > 5 % above the best (0.9 at epoch 2) for 3 epochs: stops after epoch 5, not 7
    ([1.0, 0.9, 0.96, 0.97, 0.98, 0.99, 1.0, 1.0], 3, 5),
    # the same curve without the rule: patience 5
    ([1.0, 0.9, 0.96, 0.97, 0.98, 0.99, 1.0, 1.0], 0, 7),
    # a plateau within 5 % of the best is given the whole patience
    ([1.0, 0.9, 0.92, 0.93, 0.92, 0.94, 0.93, 0.93], 3, 7),
    # risen, but back within 5 % at the third epoch: no stop there; risen again at the fourth
    ([1.0, 0.9, 0.96, 0.97, 0.93, 0.97, 0.93, 0.93], 3, 6),
])
def test_a_validation_loss_that_has_risen_stops_sooner(losses, rise_patience, epochs_run):
    windows = window_tensor(series(), 10)
    history = train(tiny_net(), scripted_validation(losses), windows[:80], windows[80:],
                    quiet(epochs=len(losses), patience=5, rise_patience=rise_patience, rise_tolerance=0.05,
                          batch_size=16), seeded_generator(0))
    assert len(history.train_loss) == epochs_run
    assert history.best_epoch == 1 and history.stopped_early
    assert history.validation_loss == pytest.approx(losses[:epochs_run])


def test_a_negative_validation_loss_rises_by_its_size():
    """A VAE's loss can be negative: 5 % above a best of -1.0 is above -0.95, not above -1.05."""
    windows = window_tensor(series(), 10)
    stopped = train(tiny_net(), scripted_validation([-0.5, -1.0, -0.9, -0.9, -0.9, -0.9, -0.9]), windows[:80],
                    windows[80:], quiet(epochs=7, patience=5, rise_patience=3, batch_size=16), seeded_generator(0))
    assert len(stopped.train_loss) == 5
    kept = train(tiny_net(), scripted_validation([-0.5, -1.0, -0.96, -0.96, -0.96, -0.96, -0.96]), windows[:80],
                 windows[80:], quiet(epochs=7, patience=5, rise_patience=3, batch_size=16), seeded_generator(0))
    assert len(kept.train_loss) == 7


def test_without_validation_nothing_stops_early():
    windows = window_tensor(series(), 10)
    history = train(tiny_net(), mse, windows, None, quiet(epochs=4, patience=1), seeded_generator(0))
    assert len(history.train_loss) == 4 and history.validation_loss == [] and not history.stopped_early


def test_denoising_feeds_noisy_inputs_and_clean_targets():
    windows = window_tensor(series(), 10)
    seen = []

    def record(net, inputs, targets):
        seen.append(float((inputs - targets).abs().max()))
        return mse(net, inputs, targets)

    train(tiny_net(), record, windows, None, quiet(epochs=1, noise_std=0.5), seeded_generator(0))
    assert min(seen) > 0
    seen.clear()
    train(tiny_net(), record, windows, None, quiet(epochs=1), seeded_generator(0))
    assert max(seen) == 0


def test_a_non_finite_loss_stops_training_with_a_training_error():
    windows = window_tensor(series(), 10)
    calls = []

    def blows_up(net, inputs, targets):
        calls.append(1)
        loss = mse(net, inputs, targets)
        return loss * float("nan") if len(calls) > 3 else loss

    with pytest.raises(TrainingError, match=r"the training loss became nan at epoch 1; lower the learning rate"):
        train(tiny_net(), blows_up, windows, None, quiet(epochs=3, batch_size=16), seeded_generator(0))


def test_a_non_finite_validation_loss_is_a_training_error():
    windows = window_tensor(series(), 10)

    def inf_in_eval(net, inputs, targets):
        return mse(net, inputs, targets) * (float("inf") if not net.training else 1.0)

    with pytest.raises(TrainingError, match="the validation loss is inf"):
        train(tiny_net(), inf_in_eval, windows[:80], windows[80:], quiet(epochs=2), seeded_generator(0))


def test_no_progress_bar_in_a_log_even_when_verbose(capsys):
    windows = window_tensor(series(), 10)
    train(tiny_net(), mse, windows, windows, TrainConfig(epochs=2, verbose=True), seeded_generator(0))
    assert capsys.readouterr().err == ""  # not a terminal: nothing drawn into a log


def test_progress_bar_only_when_verbose_and_on_a_terminal(terminal):
    stderr = terminal()
    windows = window_tensor(series(), 10)
    train(tiny_net(), mse, windows, None, quiet(epochs=2), seeded_generator(0))
    assert stderr.getvalue() == ""
    train(tiny_net(), mse, windows, windows, TrainConfig(epochs=2, verbose=True), seeded_generator(0))
    err = stderr.getvalue()
    assert "epochs:" in err and "/2" in err  # tqdm draws the postfix losses when an epoch takes >0.1 s


def test_history_round_trips_through_a_dict():
    history = History([1.0, 0.5], [1.2, 0.7], best_epoch=1, stopped_early=True)
    assert History.from_dict(history.to_dict()) == history


def recording(seen: dict):
    """mse that records the windows of every batch, under `train` or `validation` by the net's mode."""
    def loss(net, inputs, targets):
        seen["train" if net.training else "validation"].append(targets.clone())
        return mse(net, inputs, targets)
    return loss


def test_an_epoch_trains_on_a_fresh_random_sample_of_at_most_max_epoch_windows():
    windows = window_tensor(series(200), 10)[:150]  # 150 training windows
    seen = {"train": [], "validation": []}
    train(tiny_net(), recording(seen), windows, None,
          quiet(epochs=3, batch_size=16, max_epoch_windows=40), seeded_generator(0))
    assert [len(batch) for batch in seen["train"]] == [16, 16, 8] * 3
    epochs = torch.cat(seen["train"]).split(40)
    assert not torch.equal(epochs[0], epochs[1])  # a new sample every epoch
    for epoch in epochs:  # 40 distinct windows of the training set
        matches = (epoch[:, None] == windows[None]).flatten(2).all(-1)  # (40, 150)
        assert (matches.sum(1) == 1).all() and len(set(matches.int().argmax(1).tolist())) == 40


def test_validation_uses_one_fixed_sample_of_at_most_max_validation_windows():
    windows = window_tensor(series(200), 10)
    seen = {"train": [], "validation": []}
    history = train(tiny_net(), recording(seen), windows[:100], windows[100:],  # 91 validation windows
                    quiet(epochs=3, patience=0, batch_size=16, max_validation_windows=20), seeded_generator(0))
    assert [len(batch) for batch in seen["validation"]] == [20, 20, 20] and len(history.validation_loss) == 3
    assert torch.equal(seen["validation"][0], seen["validation"][1])
    assert torch.equal(seen["validation"][0], seen["validation"][2])


@pytest.mark.parametrize("caps", [dict(max_epoch_windows=1000, max_validation_windows=1000),
                                  dict(max_epoch_windows=None, max_validation_windows=None)])
def test_caps_at_or_above_the_window_counts_change_nothing(caps):
    windows = window_tensor(series(), 10)
    config = dict(epochs=3, patience=0, batch_size=16)
    net_a, net_b = tiny_net(), tiny_net()
    history_a = train(net_a, mse, windows[:80], windows[80:], quiet(**config), seeded_generator(3))
    history_b = train(net_b, mse, windows[:80], windows[80:], quiet(**config, **caps), seeded_generator(3))
    assert history_a.train_loss == history_b.train_loss and history_a.validation_loss == history_b.validation_loss


def test_capped_training_repeats_itself_at_a_seed():
    windows = window_tensor(series(), 10)
    config = quiet(epochs=3, patience=0, batch_size=16, max_epoch_windows=30, max_validation_windows=10)
    first = train(tiny_net(), mse, windows[:80], windows[80:], config, seeded_generator(4))
    second = train(tiny_net(), mse, windows[:80], windows[80:], config, seeded_generator(4))
    assert first.train_loss == second.train_loss and first.validation_loss == second.validation_loss


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_updates_exactly_as_torch_optim_adam(weight_decay, fused):
    """seqae's Adam (torch's functional update, no torch.optim.Optimizer) gives torch.optim.Adam's
    weights bit for bit, step after step, with clipping between the steps as `train` does; with
    the fused kernel, and with the single-tensor update a torch without it falls back to."""
    ours, theirs = nn.LSTM(2, 8, batch_first=True), nn.LSTM(2, 8, batch_first=True)
    theirs.load_state_dict(ours.state_dict())
    initial = ours.weight_hh_l0.detach().clone()
    mine = Adam(ours.parameters(), learning_rate=1e-2, weight_decay=weight_decay)
    if fused and not mine.fused:
        pytest.skip("this torch has no fused Adam kernel on the CPU (it came in torch 2.4)")
    mine.fused = fused
    reference = torch.optim.Adam(theirs.parameters(), lr=1e-2, weight_decay=weight_decay,
                                 **({"fused": True} if fused else {"foreach": False}))
    batches = torch.from_numpy(series(160)).reshape(10, 1, 16, 2)
    for batch in batches:
        for net, optimizer in ((ours, mine), (theirs, reference)):
            optimizer.zero_grad()
            net(batch)[0].pow(2).mean().backward()
            nn.utils.clip_grad_norm_(net.parameters(), 0.1, foreach=True)
            optimizer.step()
        for a, b in zip(ours.parameters(), theirs.parameters()):
            assert torch.equal(a, b)
    assert not torch.equal(ours.weight_hh_l0, initial)  # the steps moved the weights


def test_a_parameter_without_a_gradient_is_left_alone():
    net = tiny_net()
    frozen = net[2].bias.detach().clone()
    optimizer = Adam(net.parameters(), learning_rate=1e-2, weight_decay=0.0)
    net[0](torch.ones(3, 2)).sum().backward()  # only the first layer gets gradients
    optimizer.step()
    assert torch.equal(net[2].bias, frozen)
    assert not torch.equal(net[0].bias, tiny_net()[0].bias)


def test_a_fit_does_not_import_torch_dynamo():
    """torch.optim.Optimizer's first use imports torch._dynamo (over a second); a fit never needs it."""
    code = ("import sys, numpy as np; from seqae import LSTMAutoencoder; "
            "LSTMAutoencoder(window_size=8, hidden_size=8, latent_dim=4, epochs=2, verbose=False)"
            ".fit(np.random.default_rng(0).normal(size=(120, 2))); "
            "print('torch._dynamo' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
