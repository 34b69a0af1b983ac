"""seqae's speed against a textbook PyTorch LSTM-AE: one script per measurement, each run as
`python -m benchmarks.speed.<script>` from the repository root (benchmarks/README.md has the figures)."""
