"""Rigs shared by tests, benchmarks and the demo; never shipped.

Namespaces, veth links and processes (:mod:`lab.topology`), real daemons
(:mod:`lab.domain`, :mod:`lab.datapath_lab`), access points and stations
(:mod:`lab.hostapd_lab`, :mod:`lab.demo_lab`, :mod:`lab.access_lab`), AAA
servers, plugin harnesses, a simulated domain and the QEMU guest. Tests import
from here; nothing here imports from ``tests``.
"""
