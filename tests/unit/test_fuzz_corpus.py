"""Every fuzz target over its committed corpus, once (issue 13 item 5): harnesses cannot rot.

``make fuzz`` runs the same ``one_input`` functions under atheris for a million
executions; here each seed and regression input goes through once without atheris.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from fuzz import TARGETS
from tests.conftest import ROOT

CORPUS = ROOT / "fuzz" / "corpus"


def _inputs() -> list[tuple[str, Path]]:
    return [(name, path) for name in TARGETS for path in sorted((CORPUS / name).iterdir())]


def _target(name: str) -> ModuleType:
    return importlib.import_module(TARGETS[name][0])


@pytest.mark.parametrize(("name", "path"), _inputs(), ids=lambda v: getattr(v, "name", v))
def test_corpus_input_raises_nothing_unexpected(name: str, path: Path) -> None:
    _target(name).one_input(path.read_bytes())


@pytest.mark.parametrize("name", list(TARGETS))
def test_every_target_has_seeds_within_its_length_limit(name: str) -> None:
    files = sorted((CORPUS / name).iterdir())
    assert any(p.name.startswith("seed-") for p in files)
    assert all(len(p.read_bytes()) <= TARGETS[name][1] for p in files)


# the decoder each target calls first: made to fail unexpectedly, the harness must let it out
_FIRST_CALL = {
    "mh": "decode_message",
    "dhcp4": "decode",
    "nd": "decode_frame",
    "radius": "decode",
    "netlink": "decode_messages",
    "hostapd": "parse_event",
    "ubus": "authorized_clients",
    "uci": "uci_to_config",
    "control": "_encode",
    "config": "parse_config_text",
}


@pytest.mark.parametrize("name", list(TARGETS))
def test_an_unexpected_exception_escapes_the_harness(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("not a documented error")

    module = _target(name)
    monkeypatch.setattr(module, _FIRST_CALL[name], broken)
    seed = next(p for p in sorted((CORPUS / name).iterdir()) if p.name.startswith("seed-"))
    with pytest.raises(KeyError):
        module.one_input(seed.read_bytes())


def test_the_targets_are_the_seed_sources() -> None:
    from fuzz.seeds import SOURCES

    assert list(SOURCES) == list(TARGETS)
