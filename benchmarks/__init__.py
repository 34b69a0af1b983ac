"""seqae's benchmarks: speed against a textbook PyTorch loop (`benchmarks.speed`, benchmarks/README.md) and
detection quality on the dev sets (`python -m benchmarks.quality`, docs/benchmarks.md)."""
