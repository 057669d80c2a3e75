"""Benchmarks (`make bench`): airpy figures beside anchors measured in the same run."""
