"""Stand-ins for OpenWrt's procd, uci, ubus, logger and rc.common (none of them runs here).

They are stand-ins, named so everywhere: each records what it is asked, one line
in ``$RECORD``, and answers from files the test writes. The shipped shell code
(init script, uci-defaults, mag-ap-setup) runs unchanged under busybox ash
against them; OpenWrt's real tools check the same scripts outside the project.

- ``uci`` (``bin/uci``): ``export CONFIG`` prints ``$UCI_ROOT/CONFIG`` (the test
  writes it in uci's normalised export form), ``show CONFIG`` fails when that
  file is absent and prints ``$UCI_ROOT/CONFIG.show`` when there is one,
  ``get KEY`` answers from ``$UCI_GET`` and from what ``batch`` set before
  (kept in ``$UCI_ROOT/.store``), ``batch`` records its input.
- ``ubus`` (``bin/ubus``): ``call network.interface.NAME status`` answers
  ``{"l3_device": DEV}`` from ``$NETDEVS`` (``"lan=br-lan wan=eth1"``).
- ``logger`` (``bin/logger``): records ``-t TAG -p PRIO -- MESSAGE``.
- ``/lib/functions.sh``: ``config_load`` evaluates ``uci export`` output with
  ``config``/``option``/``list`` defined as functions, as OpenWrt's own does;
  ``config_get``, ``config_get_bool``, ``config_foreach`` on top.
- ``/lib/functions/procd.sh``: the ``procd_*`` calls record their arguments.
- ``/lib/functions/network.sh``: ``network_get_device`` asks the ubus stand-in.
- ``/etc/rc.common``: sources those, then the init script, and runs ``start``
  as rc.common does for procd services (open service, start_service, triggers,
  close service; the exit code is start_service's).
"""

from __future__ import annotations

from pathlib import Path

FUNCTIONS_SH = r"""
# stand-in for /lib/functions.sh: the config_* API over `uci export` output
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
package() { :; }
config_load() {
	CONFIG_SECTIONS=
	_cfg_n=0
	_export=$(uci -q export "$1") || return 1
	eval "$_export"
}
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
"""

PROCD_SH = r"""
# stand-in for /lib/functions/procd.sh: record what the init script asks procd for
_rec() { printf '%s\n' "$*" >>"$RECORD"; }
procd_open_service() { _rec "procd open_service $*"; }
procd_close_service() { _rec "procd close_service"; }
procd_open_instance() { _rec "procd open_instance $*"; }
procd_set_param() { _rec "procd set_param $*"; }
procd_append_param() { _rec "procd append_param $*"; }
procd_close_instance() { _rec "procd close_instance"; }
procd_open_trigger() { :; }
procd_close_trigger() { :; }
procd_add_reload_trigger() { _rec "procd reload_trigger $*"; }
procd_add_interface_trigger() { _rec "procd interface_trigger $*"; }
"""

NETWORK_SH = r"""
# stand-in for /lib/functions/network.sh: netifd's interface -> device, asked over ubus
network_get_device() {
	_dev=$(ubus call "network.interface.$2" status 2>/dev/null |
		sed -n 's/.*"l3_device": *"\([^"]*\)".*/\1/p')
	[ -n "$_dev" ] || return 1
	eval "$1=\$_dev"
}
"""

RC_COMMON = r"""
# stand-in for /etc/rc.common with USE_PROCD: `sh rc.common INIT start|reload`
initscript=$1
action=$2
. "$IPKG_INSTROOT/lib/functions.sh"
. "$IPKG_INSTROOT/lib/functions/procd.sh"
. "$initscript"
# test hooks of this stand-in only: where the program and its run file are
[ -z "$STANDIN_PROG" ] || PROG=$STANDIN_PROG
[ -z "$STANDIN_RUN_CONFIG" ] || RUN_CONFIG=$STANDIN_RUN_CONFIG
case "$action" in
	start | reload | restart)
		procd_open_service "${initscript##*/}" "$initscript"
		start_service
		rc=$?
		service_triggers
		procd_close_service
		exit "$rc"
		;;
	*) echo "rc.common stand-in: $action not modelled" >&2; exit 2 ;;
esac
"""

UCI = r"""#!/bin/sh
# stand-in for uci: record, and answer from $UCI_ROOT and $UCI_GET
printf 'uci %s\n' "$*" >>"$RECORD"
store="$UCI_ROOT/.store"
while [ "${1#-}" != "$1" ]; do shift; done
case "$1" in
	export)
		[ -f "$UCI_ROOT/$2" ] || exit 1
		cat "$UCI_ROOT/$2"
		;;
	show)
		[ -f "$UCI_ROOT/$2" ] || exit 1
		shown="$UCI_ROOT/$2.show"
		if [ -f "$shown" ]; then cat "$shown"; else echo "$2.stand_in=present"; fi
		;;
	get)
		found=$(
			{ printf '%s\n' "$UCI_GET"; [ -f "$store" ] && cat "$store"; } |
				while IFS='=' read -r k v; do [ "$k" = "$2" ] && echo "$v"; done | tail -n 1
		)
		[ -n "$found" ] || exit 1
		echo "$found"
		;;
	batch)
		while IFS= read -r line; do
			printf '%s\n' "$line" >>"$RECORD"
			case "$line" in
				"set "*=*)
					kv=${line#set }
					v=${kv#*=}
					v=${v#\'}
					printf '%s=%s\n' "${kv%%=*}" "${v%\'}" >>"$store"
					;;
			esac
		done
		;;
esac
exit 0
"""

UBUS = r"""#!/bin/sh
# stand-in for ubus: record, answer network.interface.NAME status from $NETDEVS
printf 'ubus %s\n' "$*" >>"$RECORD"
if [ "$1" = call ] && [ "$3" = status ]; then
	name=${2#network.interface.}
	for pair in $NETDEVS; do
		if [ "${pair%%=*}" = "$name" ]; then
			printf '{ "up": true, "l3_device": "%s" }\n' "${pair#*=}"
			exit 0
		fi
	done
fi
exit 4
"""

LOGGER = r"""#!/bin/sh
# stand-in for logger: record tag, priority and message (or stdin lines)
args="$*"
if [ "${args#*-- }" != "$args" ]; then
	printf 'logger %s\n' "$args" >>"$RECORD"
else
	while IFS= read -r line; do printf 'logger %s -- %s\n' "$args" "$line" >>"$RECORD"; done
fi
exit 0
"""


def install_shims(root: Path) -> Path:
    """Write the stand-ins under ``root`` (an IPKG_INSTROOT; put ``root/bin`` first on PATH)."""
    (root / "lib/functions").mkdir(parents=True, exist_ok=True)
    (root / "etc").mkdir(exist_ok=True)
    functions = root / "lib/functions.sh"
    functions.write_text(FUNCTIONS_SH)
    (root / "lib/functions/procd.sh").write_text(PROCD_SH)
    (root / "lib/functions/network.sh").write_text(NETWORK_SH)
    (root / "etc/rc.common").write_text(RC_COMMON)
    (root / "bin").mkdir(exist_ok=True)
    for name, text in (("uci", UCI), ("ubus", UBUS), ("logger", LOGGER)):
        tool = root / "bin" / name
        tool.write_text(text)
        tool.chmod(0o755)
    return functions
