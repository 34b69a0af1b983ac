"""The nets map (batch, window, features) to the same shape; the losses are the textbook formulas."""

from __future__ import annotations

import math

import pytest
import torch

from seqae import nets

BATCH, N_FEATURES = 5, 3


@pytest.fixture
def windows():
    return torch.randn(BATCH, 12, N_FEATURES, generator=torch.Generator().manual_seed(0))


def make_net(name: str, window_size: int):
    torch.manual_seed(0)
    if name == "lstm":
        return nets.LSTMSeq2Seq(N_FEATURES, hidden_size=16, latent_dim=4, num_layers=2, dropout=0.1)
    if name == "dense":
        return nets.DenseAE(N_FEATURES, window_size, hidden_size=16, latent_dim=4)
    return nets.ConvAE(N_FEATURES, window_size, hidden_size=8, latent_dim=4)


@pytest.mark.parametrize("name", ["lstm", "dense", "conv"])
@pytest.mark.parametrize("window_size", [1, 7, 12, 33])
def test_autoencoders_reconstruct_the_input_shape(name, window_size):
    x = torch.randn(BATCH, window_size, N_FEATURES)
    net = make_net(name, window_size).eval()
    out = net(x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    z = net.encode(x)
    assert z.shape == (BATCH, 4)  # exactly latent_dim values per window, for every net
    assert torch.equal(net.decode(z, window_size), out)  # forward is decode(encode(x))


def test_lstm_seq2seq_latent_is_latent_dim(windows):
    net = nets.LSTMSeq2Seq(N_FEATURES, hidden_size=16, latent_dim=4)
    z = net.encode(windows)
    assert z.shape == (BATCH, 4)
    assert net.decode(z, 20).shape == (BATCH, 20, N_FEATURES)  # any length can be decoded


@pytest.mark.parametrize("decoder", nets.DECODERS)
@pytest.mark.parametrize("window_norm", nets.WINDOW_NORMS)
def test_lstm_seq2seq_decoders_and_window_norms_round_trip_through_the_code(windows, decoder, window_norm):
    torch.manual_seed(0)
    net = nets.LSTMSeq2Seq(N_FEATURES, hidden_size=16, latent_dim=4, decoder=decoder, window_norm=window_norm).eval()
    z = net.encode(windows)
    extra = {"none": 0, "center": N_FEATURES, "standardize": 2 * N_FEATURES}[window_norm]
    assert z.shape == (BATCH, net.code_size) and net.code_size == 4 + extra
    out = net(windows)
    assert out.shape == windows.shape and torch.equal(net.decode(z, windows.shape[1]), out)
    if window_norm != "none":  # the window's level travels in the code: decoding puts it back
        assert torch.allclose(z[:, 4:4 + N_FEATURES], windows.mean(dim=1))
        shifted = net(windows + 5.0)
        assert torch.allclose(shifted, out + 5.0, atol=1e-4)


def test_teacher_forcing_reads_the_true_previous_step_in_training_and_its_own_when_scoring(windows):
    torch.manual_seed(0)
    net = nets.LSTMSeq2Seq(N_FEATURES, hidden_size=16, latent_dim=4, decoder="teacher_forcing")
    z = net.encode(windows)
    forced = net.decode(z, windows.shape[1], teacher=windows)
    assert torch.equal(net.train()(windows), forced)
    free = net.eval()(windows)
    assert torch.equal(free, net.decode(z, windows.shape[1])) and not torch.allclose(free, forced)
    # the first step reads no previous reading either way; a later one differs with what it reads
    assert torch.allclose(free[:, 0], forced[:, 0])
    altered = windows.clone()
    altered[:, 3] += 1.0
    again = net.decode(z, windows.shape[1], teacher=altered)
    assert torch.equal(again[:, :4], forced[:, :4]) and not torch.allclose(again[:, 4], forced[:, 4])


def test_window_norm_and_decoder_are_checked():
    with pytest.raises(ValueError, match="decoder must be one of repeat, teacher_forcing"):
        nets.LSTMSeq2Seq(N_FEATURES, decoder="attention")
    with pytest.raises(ValueError, match="window_norm must be one of none, center, standardize"):
        nets.LSTMSeq2Seq(N_FEATURES, window_norm="minmax")


def test_lstm_vae_shapes_and_deterministic_mean_path(windows):
    net = nets.LSTMVAENet(N_FEATURES, hidden_size=16, latent_dim=4).eval()
    x_mean, x_logvar, z_mean, z_logvar = net(windows, sample=False)
    assert x_mean.shape == x_logvar.shape == windows.shape
    assert z_mean.shape == z_logvar.shape == (BATCH, 4)
    assert torch.equal(net(windows, sample=False)[0], x_mean)  # the mean latent: no randomness
    assert x_logvar.min() >= net.MIN_LOGVAR and x_logvar.max() <= net.MAX_LOGVAR


def test_lstm_vae_samples_follow_the_generator(windows):
    net = nets.LSTMVAENet(N_FEATURES, hidden_size=16, latent_dim=4).eval()
    first = net(windows, generator=torch.Generator().manual_seed(3))[0]
    again = net(windows, generator=torch.Generator().manual_seed(3))[0]
    other = net(windows, generator=torch.Generator().manual_seed(4))[0]
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_lstm_vae_fixed_variance_is_one(windows):
    net = nets.LSTMVAENet(N_FEATURES, hidden_size=16, latent_dim=4, learn_variance=False)
    _, x_logvar, _, _ = net(windows, sample=False)
    assert torch.equal(x_logvar, torch.zeros_like(x_logvar))
    assert net.out_logvar is None


def test_gaussian_kl_is_zero_at_the_standard_normal_and_positive_elsewhere():
    zeros = torch.zeros(4, 6)
    assert torch.equal(nets.gaussian_kl(zeros, zeros), torch.zeros(4))
    mean, logvar = torch.randn(4, 6), torch.randn(4, 6)
    kl = nets.gaussian_kl(mean, logvar)
    assert kl.shape == (4,) and (kl > 0).all()
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    torch.testing.assert_close(kl, torch.distributions.kl_divergence(q, p).sum(-1))


def test_gaussian_nll_is_minus_the_log_density():
    x, mean, logvar = torch.randn(3, 4, 2), torch.randn(3, 4, 2), torch.randn(3, 4, 2)
    expected = -torch.distributions.Normal(mean, (0.5 * logvar).exp()).log_prob(x)
    torch.testing.assert_close(nets.gaussian_nll(x, mean, logvar), expected)
    assert nets.gaussian_nll(torch.zeros(1), torch.zeros(1), torch.zeros(1)).item() == pytest.approx(
        0.5 * math.log(2 * math.pi))


def test_squared_error():
    assert nets.squared_error(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0])).tolist() == [1.0, 9.0]


def test_elbo_loss_is_finite_and_matches_its_definition(windows):
    net = nets.LSTMVAENet(N_FEATURES, hidden_size=16, latent_dim=4)
    x_mean, x_logvar, z_mean, z_logvar = net(windows, generator=torch.Generator().manual_seed(0))
    loss = nets.elbo_loss(windows, x_mean, x_logvar, z_mean, z_logvar, beta=0.5)
    assert loss.ndim == 0 and torch.isfinite(loss)
    n_elements = windows.shape[1] * windows.shape[2]
    by_hand = ((nets.gaussian_nll(windows, x_mean, x_logvar).sum(dim=(1, 2))
                + 0.5 * nets.gaussian_kl(z_mean, z_logvar)) / n_elements).mean()
    torch.testing.assert_close(loss, by_hand)
    loss.backward()  # gradients flow through the reparameterised sample
    assert net.to_logvar.weight.grad is not None and torch.isfinite(net.to_logvar.weight.grad).all()


def test_elbo_loss_on_a_perfect_fit_with_the_prior_latent():
    x = torch.zeros(2, 5, 3)
    loss = nets.elbo_loss(x, x, torch.zeros_like(x), torch.zeros(2, 4), torch.zeros(2, 4))
    assert loss.item() == pytest.approx(0.5 * math.log(2 * math.pi))  # only the Gaussian's constant


def test_reparameterise_has_the_requested_mean_and_spread():
    mean, logvar = torch.full((20000, 1), 2.0), torch.full((20000, 1), math.log(9.0))
    z = nets.reparameterise(mean, logvar, torch.Generator().manual_seed(0))
    assert z.mean().item() == pytest.approx(2.0, abs=0.1)
    assert z.std().item() == pytest.approx(3.0, abs=0.1)


def test_lstm_forecast_net_predicts_the_last_row_from_the_rows_before_it(windows):
    net = nets.LSTMForecastNet(N_FEATURES, hidden_size=16, num_layers=2, dropout=0.1).eval()
    forecast = net(windows)
    assert forecast.shape == (BATCH, N_FEATURES)
    changed = windows.clone()
    changed[:, -1] += 10.0  # the row forecast is not part of the context
    assert torch.equal(net(changed), forecast)
    expected = ((forecast - windows[:, -1]) ** 2).mean()
    torch.testing.assert_close(nets.forecast_loss(net, windows, windows), expected)
