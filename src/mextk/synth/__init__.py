"""Synthetic data with known ground truth: micro-expression clips, group-call recordings, screen shares and long
videos with micro- and macro-expression intervals (``mextk synth``), for tests, the demo and benchmarks."""
