"""Stand-ins for the OpenWrt shell library (named as such: no procd or uci runs here).

``/etc/config`` syntax is valid shell, so ``config_load`` sources the file with
``config``/``option``/``list`` defined as functions that set variables, the way
OpenWrt's own ``uci_load`` evaluates ``uci export`` output. The ``procd_*``
functions only record their arguments, one line each, in ``$RECORD``.
"""

from __future__ import annotations

from pathlib import Path

FUNCTIONS_SH = r"""
# --- UCI (a small re-implementation of /lib/functions.sh's config_* API) ---
CONFIG_SECTIONS=
_cfg_n=0
config() {
	_cfg_n=$((_cfg_n + 1))
	CONFIG_SECTION=${2:-cfg$_cfg_n}
	eval "CONFIG_${CONFIG_SECTION}_TYPE=\$1"
	CONFIG_SECTIONS="$CONFIG_SECTIONS $CONFIG_SECTION"
}
option() { eval "CONFIG_${CONFIG_SECTION}_$1=\$2"; }
list() {
	eval "_old=\${CONFIG_${CONFIG_SECTION}_$1}"
	eval "CONFIG_${CONFIG_SECTION}_$1=\"\${_old:+\$_old }\$2\""
}
config_load() { CONFIG_SECTIONS=; _cfg_n=0; . "$UCI_ROOT/$1"; }
config_get() {
	eval "_v=\${CONFIG_$2_$3}"
	[ -n "$_v" ] || _v=$4
	eval "$1=\$_v"
}
config_get_bool() {
	config_get _b "$2" "$3" "$4"
	case "$_b" in
		1|on|true|yes|enabled) _b=1 ;;
		0|off|false|no|disabled) _b=0 ;;
		*) _b=$4 ;;
	esac
	eval "$1=\$_b"
}
config_foreach() {
	for _s in $CONFIG_SECTIONS; do
		eval "_t=\$CONFIG_${_s}_TYPE"
		[ "$_t" = "$2" ] && "$1" "$_s"
	done
	return 0
}
# --- procd.sh: record what the init script asks for ---
_rec() { printf '%s\n' "$*" >>"$RECORD"; }
procd_open_instance() { _rec "open_instance $*"; }
procd_set_param() { _rec "set_param $*"; }
procd_append_param() { _rec "append_param $*"; }
procd_close_instance() { _rec "close_instance"; }
procd_add_reload_trigger() { _rec "reload_trigger $*"; }
procd_add_interface_trigger() { _rec "interface_trigger $*"; }
logger() { _rec "logger $* : $(cat)"; }
"""

# /lib/functions/network.sh: netifd's logical interface -> device, from $NETDEVS ("lan=br-lan").
NETWORK_SH = r"""
network_get_device() {
	for _pair in $NETDEVS; do
		if [ "${_pair%%=*}" = "$2" ]; then
			eval "$1=\${_pair#*=}"
			return 0
		fi
	done
	return 1
}
"""

# A `uci` command that records its arguments and any batch input, and answers `get`
# from $UCI_GET ("key=value" lines).
FAKE_UCI = r"""#!/bin/sh
printf 'uci %s\n' "$*" >>"$RECORD"
for a in "$@"; do
	case "$a" in
		batch) cat >>"$RECORD"; exit 0 ;;
		get)
			key=$(eval "echo \${$#}")
			printf '%s\n' "$UCI_GET" | while IFS='=' read -r k v; do
				[ "$k" = "$key" ] && echo "$v"
			done
			exit 0 ;;
	esac
done
exit 0
"""


def install_shims(root: Path) -> Path:
    """Write the stand-ins under ``root`` (an IPKG_INSTROOT); returns functions.sh."""
    (root / "lib/functions").mkdir(parents=True, exist_ok=True)
    functions = root / "lib/functions.sh"
    functions.write_text(FUNCTIONS_SH)
    (root / "lib/functions/network.sh").write_text(NETWORK_SH)
    (root / "bin").mkdir(exist_ok=True)
    uci = root / "bin/uci"
    uci.write_text(FAKE_UCI)
    uci.chmod(0o755)
    return functions
