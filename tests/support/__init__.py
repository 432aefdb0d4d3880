"""Test infrastructure shared by tests and benchmarks (a fault-injecting proxy, process helpers)."""
