"""Lab helpers for tests, benchmarks and the demo (namespaces, veth, processes)."""
