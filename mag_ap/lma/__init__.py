"""Reference Local Mobility Anchor: pure binding cache and pools, plus its runtime glue."""
