"""The ``mag-ap`` command line: one entry point, one sub-command per job."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from .config import Config, ConfigError

EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a command killed by SIGPIPE


def _read_hex(text: str) -> bytes:
    """Hex as an operator pastes it: spaces, colons and newlines are ignored."""
    cleaned = "".join(ch for ch in text if ch not in " \t\r\n:")
    return bytes.fromhex(cleaned)


def _cmd_mh_decode(args: argparse.Namespace) -> int:
    from .mh import DecodeError, decode_message, message_to_json

    source = sys.stdin.read() if args.hex == "-" else args.hex
    try:
        data = _read_hex(source)
    except ValueError as exc:
        print(f"mag-ap mh decode: not hex: {exc}", file=sys.stderr)
        return 2
    try:
        msg = decode_message(data)
    except DecodeError as exc:
        print(f"mag-ap mh decode: {exc}", file=sys.stderr)
        return 1
    json.dump(message_to_json(msg), sys.stdout, indent=None if args.compact else 2)
    sys.stdout.write("\n")
    return 0


def _cmd_mh_encode(args: argparse.Namespace) -> int:
    from .mh import encode_message, message_from_json

    try:
        raw = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        print(f"mag-ap mh encode: stdin is not JSON: {exc}", file=sys.stderr)
        return 2
    try:
        msg = message_from_json(raw)
        data = encode_message(msg)
    except ValueError as exc:
        print(f"mag-ap mh encode: {exc}", file=sys.stderr)
        return 1
    print(data.hex())
    return 0


# --- daemons and their control socket ---------------------------------------------


def _fail(message: str, code: int = 1) -> int:
    print(f"mag-ap: {message}", file=sys.stderr)
    return code


def _load(path: str) -> Config:
    """The config at ``path``; a ConfigError propagates with its key path."""
    from .config import load_config

    return load_config(path)


def _cmd_run(args: argparse.Namespace) -> int:
    return _run_daemon(args.config, "mag")


def _cmd_lma(args: argparse.Namespace) -> int:
    if args.config is None:
        return _fail("lma: give -c FILE to run the LMA, or a sub-command (lma revoke MN-ID)", 2)
    return _run_daemon(args.config, "lma")


def _run_daemon(path: str, role: str) -> int:
    from .config import ConfigError

    try:
        config = _load(path)
    except ConfigError as exc:
        return _fail(_config_error_text(exc, path))
    if config.role != role:
        hint = "mag-ap run" if config.role == "mag" else "mag-ap lma"
        return _fail(f"{path} configures a {config.role.upper()} (daemon.role); use '{hint}'")
    from .runtime.daemon import run_lma, run_mag

    return run_mag(config) if role == "mag" else run_lma(config)


def _config_error_text(exc: ConfigError, path: str) -> str:
    return f"{exc.source or path}: {exc}"


def _cmd_check_config(args: argparse.Namespace) -> int:
    from .config import ConfigError

    try:
        config = _load(args.config)
        if args.plugins:
            from .plugins import PluginError, PluginHost

            try:
                PluginHost.from_config(config, entry_points=config.plugins.entry_points)
            except PluginError as exc:
                return _fail(f"{args.config}: {exc}")
    except ConfigError as exc:
        return _fail(_config_error_text(exc, args.config))
    print("ok")
    return 0


def _socket_path(args: argparse.Namespace, role: str) -> str:
    """-s wins, else the config's control_socket, else the role's default path."""
    from .config import DEFAULT_CONTROL_SOCKET

    if getattr(args, "socket", None):
        return str(args.socket)
    if getattr(args, "config_file", None):
        return _load(args.config_file).control_socket
    return DEFAULT_CONTROL_SOCKET[role]


def _ask(args: argparse.Namespace, role: str, payload: dict[str, Any]) -> dict[str, Any] | int:
    """Send one control request; an int is the exit code of a failure already printed."""
    from .config import ConfigError
    from .runtime.control import ControlError, NoDaemonError, request

    try:
        path = _socket_path(args, role)
    except ConfigError as exc:
        return _fail(_config_error_text(exc, args.config_file))
    try:
        answer = request(path, payload, timeout_s=args.timeout)
    except NoDaemonError as exc:
        return _fail(str(exc))
    except (ControlError, OSError, ValueError) as exc:
        return _fail(f"{path}: {exc}")
    if not answer.get("ok"):
        return _fail(str(answer.get("error", "request failed")))
    return answer


def _cmd_attach(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"cmd": "attach", "mac": args.mac}
    if args.mn_id:
        payload["mn_id"] = args.mn_id
    if args.handoff:
        payload["handoff"] = int(args.handoff) if args.handoff.isdigit() else args.handoff
    if args.wait:
        payload["wait_s"] = args.wait
        args.timeout = max(args.timeout, args.wait + 5.0)  # the answer comes after the wait
    answer = _ask(args, "mag", payload)
    if isinstance(answer, int):
        return answer
    if args.json:
        _print_json(answer)
        return 0
    line = f"attach {answer.get('mac')} as {answer.get('mn_id')} via LMA {answer.get('lma')}"
    if args.wait:
        binding = answer.get("binding") or {}
        line += f": {binding.get('state', 'gone (rejected?)')}"
    print(line)
    if args.wait and not answer.get("settled"):
        return _fail(f"not bound within {args.wait:g} s")
    return 0


def _cmd_detach(args: argparse.Namespace) -> int:
    answer = _ask(args, "mag", {"cmd": "detach", "mac": args.mac})
    if isinstance(answer, int):
        return answer
    print(f"detach {answer.get('mac')}")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    answer = _ask(args, "lma" if args.lma else "mag", {"cmd": "stop"})
    return answer if isinstance(answer, int) else 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    answer = _ask(args, "lma", {"cmd": "revoke", "mn_id": args.mn_id})
    if isinstance(answer, int):
        return answer
    print(f"revoking {answer.get('mn_id')}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    answer = _ask(args, "lma" if args.lma else "mag", {"cmd": "status"})
    if isinstance(answer, int):
        return answer
    if args.json:
        _print_json(answer)
    else:
        from .runtime.status_view import render_status

        sys.stdout.write(render_status(answer))
    return 0


def _print_json(obj: object) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def _add_target(p: argparse.ArgumentParser) -> None:
    """-s SOCKET | -c FILE: which daemon to talk to."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("-s", "--socket", help="control socket path")
    group.add_argument(
        "-c",
        "--config",
        dest="config_file",
        metavar="FILE",
        help="read control_socket from this config file",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")


def _terminal_columns() -> int:
    """shutil.get_terminal_size().columns, read without shutil: COLUMNS, the tty, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
    except (AttributeError, ValueError, OSError):
        return 80


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, told the width: its own ``import shutil`` for it (run for
    every add_argument) pulls bz2 and lzma, 0.4 MB of an idle daemon's RSS."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        width = _terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser with :class:`_HelpFormatter`; sub-parsers are of this class too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mag-ap", description="Proxy Mobile IPv6 MAG for OpenWrt access points")
    parser.add_argument("--version", action="version", version=f"mag-ap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    mh = sub.add_parser("mh", help="decode or encode Mobility Header messages")
    mh_sub = mh.add_subparsers(dest="mh_command", required=True)
    dec = mh_sub.add_parser("decode", help="hex Mobility Header -> JSON")
    dec.add_argument("hex", help="the MH as hex (from byte 0x3b on), or - for stdin")
    dec.add_argument("--compact", action="store_true", help="one line of JSON")
    dec.set_defaults(func=_cmd_mh_decode)
    enc = mh_sub.add_parser("encode", help="JSON on stdin -> hex Mobility Header")
    enc.set_defaults(func=_cmd_mh_encode)

    run = sub.add_parser("run", help="run the MAG daemon")
    run.add_argument(
        "-c", "--config", required=True, metavar="FILE", help="TOML configuration file"
    )
    run.set_defaults(func=_cmd_run)

    lma = sub.add_parser(
        "lma", help="run the reference LMA daemon (-c FILE), or talk to it (lma revoke)"
    )
    lma.add_argument(
        "-c", "--config", metavar="FILE", help="TOML configuration file (runs the daemon)"
    )
    lma.set_defaults(func=_cmd_lma)
    lma_sub = lma.add_subparsers(dest="lma_command")
    rev = lma_sub.add_parser("revoke", help="revoke an MN's binding (RFC 5846)")
    rev.add_argument("mn_id", metavar="MN-ID")
    _add_target(rev)
    rev.set_defaults(func=_cmd_revoke)

    status = sub.add_parser("status", help="bindings and counters of a running daemon")
    status.add_argument("--json", action="store_true", help="the raw JSON answer")
    status.add_argument("--lma", action="store_true", help="default to the LMA's socket")
    _add_target(status)
    status.set_defaults(func=_cmd_status)

    att = sub.add_parser("attach", help="report a station as attached (MAG)")
    att.add_argument("mac", metavar="MAC")
    att.add_argument("--mn-id", help="MN identifier (NAI); default: the identity provider")
    att.add_argument(
        "--wait", type=float, default=0.0, metavar="S", help="wait up to S seconds for the PBA"
    )
    att.add_argument(
        "--handoff",
        metavar="HI",
        help="Handoff Indicator, name or number: MAG_CHANGE (3) when the station came from "
        "another MAG, NEW_INTERFACE (1); default UNKNOWN (4), or 3 when the LMA said the "
        "station had moved to another MAG",
    )
    att.add_argument("--json", action="store_true", help="the raw JSON answer")
    _add_target(att)
    att.set_defaults(func=_cmd_attach)

    det = sub.add_parser("detach", help="report a station as gone (MAG): de-register")
    det.add_argument("mac", metavar="MAC")
    _add_target(det)
    det.set_defaults(func=_cmd_detach)

    stop = sub.add_parser("stop", help="stop a running daemon gracefully")
    stop.add_argument("--lma", action="store_true", help="default to the LMA's socket")
    _add_target(stop)
    stop.set_defaults(func=_cmd_stop)

    check = sub.add_parser("check-config", help="validate a configuration file")
    check.add_argument(
        "-c", "--config", required=True, metavar="FILE", help="TOML configuration file"
    )
    check.add_argument(
        "--no-plugins",
        dest="plugins",
        action="store_false",
        help="check the core sections only (do not load plugins)",
    )
    check.set_defaults(func=_cmd_check_config)

    def _cmd_uci_to_toml(args: argparse.Namespace) -> int:
        from .openwrt.uci_cli import uci_to_toml

        return uci_to_toml(
            args.config, export=args.export, uci=args.uci, check_plugins=args.plugins
        )

    uci = sub.add_parser(
        "uci-to-toml", help="OpenWrt UCI config (read with `uci export`) -> TOML on stdout"
    )
    uci.add_argument("config", metavar="CONFIG", nargs="?", default="mag-ap",
                     help="the uci config name (default mag-ap)")  # fmt: skip
    uci.add_argument(
        "--export", metavar="FILE", help="read saved `uci export` output (- for stdin), no uci"
    )
    uci.add_argument("--uci", default="uci", help="the uci program (default: uci on PATH)")
    uci.add_argument(
        "--no-plugins",
        dest="plugins",
        action="store_false",
        help="check the core sections only (do not load plugins)",
    )
    uci.set_defaults(func=_cmd_uci_to_toml)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # `mag-ap status --json | head`: the reader left, which is not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return result


if __name__ == "__main__":
    raise SystemExit(main())
