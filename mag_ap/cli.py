"""The ``mag-ap`` command line: one entry point, one sub-command per job."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mag-ap", description="Proxy Mobile IPv6 MAG for OpenWrt access points"
    )
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
