#!/bin/sh
# Boot an OpenWrt x86-64 image under QEMU, install the mag-ap .ipk files, start the
# service and check that `mag-ap status` answers. Fails loudly (exit 1, console tail)
# on an image that does not boot. Usage: openwrt/qemu-smoke.sh IMAGE [IPK_DIR]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-"$here/.venv/bin/python"}
[ -x "$python" ] || python=python3
cd "$here"
exec "$python" -m openwrt.tools.qemu_smoke "$@"
