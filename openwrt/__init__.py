"""The OpenWrt feed and its build-time tools (checkout only, never installed)."""
