"""Config files and ``--set`` items as plain mappings, before validation: YAML read with
one-line errors, ``section.key=value`` overrides, and the nested merge of the two
(:func:`emobalance.config.load_config` validates the result); :func:`first_difference` names
the first key two mappings disagree on."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["apply_overrides", "deep_merge", "first_difference", "read_yaml", "yaml_problem"]


def apply_overrides(config: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``section.key=value`` items merged into a copy of a config mapping.

    The dotted key names a nested field (``balance.pseudo_label.threshold``); the value is
    read as a YAML scalar or flow collection (``8``, ``0.5``, ``none`` is the string
    ``"none"``, ``null`` or nothing is None, ``[1, 3]``, ``{a: 1}``), and merged with
    :func:`deep_merge`, so a mapping value updates the mapping it lands on. Nothing is
    validated here: :func:`validate` then names a bad key or value.

    Examples
    --------
    >>> apply_overrides({"train": {"epochs": 8}}, ["train.epochs=2", "run.seeds=[0, 1]"])
    {'train': {'epochs': 2}, 'run': {'seeds': [0, 1]}}
    """
    out = dict(config)
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(p.strip() and p == p.strip() for p in parts):
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            why = getattr(exc, "problem", None) or " ".join(str(exc).split())
            raise ConfigError(f"--set {key.strip()}: invalid YAML value {raw!r} ({why})") from None
        except RecursionError:
            raise ConfigError(f"--set {key.strip()}: YAML value nested too deeply") from None
        for part in reversed(parts):
            value = {part: value}
        out = deep_merge(out, value)
    return out


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: the problem and where (PyYAML's own text spans lines)."""
    if isinstance(exc, yaml.reader.ReaderError):  # a control character, a NUL byte
        char = exc.character if isinstance(exc.character, int) else ord(exc.character or " ")
        return f"unacceptable character #x{char:04x} at position {exc.position}: {exc.reason}"
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem is None:
        return " ".join(str(exc).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML file holding a mapping, with clear errors.

    Raises
    ------
    ConfigError
        One line naming the file: missing, unreadable, not UTF-8 (a UTF-16 or binary file),
        not YAML, nested too deeply, or not a mapping at the top level.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); save the config as UTF-8 YAML"
        ) from None
    except OSError as exc:  # a folder, no permission...
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({yaml_problem(exc)})") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML (nested too deeply)") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return raw


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base`` (nested dicts merged, other values replaced)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = (
            deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def first_difference(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> str | None:
    """The dotted key of the first value ``a`` and ``b`` disagree on (None when equal).

    Keys are visited in ``a``'s order, then those only ``b`` has; nested dicts are walked,
    any other value (a list too) is compared whole.

    Examples
    --------
    >>> first_difference({"run": {"seeds": [0]}, "balance": {"target": 40}},
    ...                  {"run": {"seeds": [0]}, "balance": {"target": 50}})
    'balance.target'
    """
    for key in [*a, *(k for k in b if k not in a)]:
        name = f"{prefix}{key}"
        if key not in a or key not in b:
            return name
        va, vb = a[key], b[key]
        if isinstance(va, dict) and isinstance(vb, dict):
            inner = first_difference(va, vb, prefix=f"{name}.")
            if inner is not None:
                return inner
        elif va != vb:
            return name
    return None
