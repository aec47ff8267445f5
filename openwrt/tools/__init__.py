"""Packaging for OpenWrt: the feed table, dependency computation and a pure-Python ipk builder.

Build-time only: nothing here is installed on the access point.
"""
