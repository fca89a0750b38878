"""Speed benchmarks (scripts, not tests): ``python -m bench.bench_torch``."""
