"""Typed, validated configuration built from plain frozen dataclasses.

Every config section in the project is a frozen dataclass whose fields carry
their allowed range in ``field(metadata=...)`` (see :func:`bounded`).
:func:`from_dict` turns a nested ``dict`` (parsed TOML, CLI overrides) into
such a dataclass and raises :class:`ConfigError` naming the offending field
and its allowed range on the first problem: unknown key, wrong type, value
out of range, or a cross-field rule broken (a section's ``check()`` method).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A user's input is invalid: a config value, a file, an option, a designer's code.

    :param field: what is wrong, named as the user knows it: the dotted config path (``classroom.students``), an
        option (``--out``) or a file.
    :param involves: for a rule across fields (a section's ``check()``), the fields it involves, relative to the
        section: :func:`from_dict` names the first one the user set, since that is the one they changed.
    """

    def __init__(self, field: str, message: str, involves: tuple[str, ...] = ()):
        super().__init__(field, message)  # args rebuild the error (pickling; SimPy re-raises a process's error)
        self.field = field
        self.message = message
        self.involves = involves

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def bounded(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    length: int | None = None,
    factory: Any = dataclasses.MISSING,
    doc: str = "",
) -> Any:
    """A dataclass field with an allowed range (applied to every element of a sequence).

    :param ge: inclusive lower bound.
    :param le: inclusive upper bound.
    :param gt: exclusive lower bound.
    :param lt: exclusive upper bound.
    :param length: required length of a tuple field (nested tuples: outer length).
    :param doc: one line shown in error messages and docs.
    """
    meta = {"ge": ge, "le": le, "gt": gt, "lt": lt, "length": length, "doc": doc}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def describe_range(meta: dict[str, Any]) -> str:
    """Human text for a field's allowed range, e.g. ``>= 1 and <= 100000``."""
    parts = []
    for key, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if meta.get(key) is not None:
            parts.append(f"{sym} {meta[key]:g}")
    return " and ".join(parts)


def _optional_of(tp: Any) -> Any:
    """``X`` for a field typed ``X | None`` (the key may be left out; None means "not given"), else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return None


def _type_name(tp: Any) -> str:
    if _optional_of(tp) is not None:
        return _type_name(_optional_of(tp))
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        return f"a list of {_type_name(args[0])}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if tp is dict or typing.get_origin(tp) is dict:
        return "a table"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, meta: dict[str, Any], path: str) -> Any:
    """Check ``value`` against type ``tp`` and range ``meta``; return the typed value."""
    inner = _optional_of(tp)
    if inner is not None:
        return None if value is None else _convert(value, inner, meta, path)
    origin = typing.get_origin(tp)
    allowed = _type_name(tp)
    rng = describe_range(meta)
    wanted = allowed + (f" {rng}" if rng else "")

    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(path, f"must be {wanted}, got {value!r}")
        return from_dict(tp, value, path)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(path, f"must be {allowed}, got {value!r}")
        return value
    if origin is tuple:
        (elem_tp, *_rest) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"must be {wanted}, got {value!r}")
        if meta.get("length") is not None and len(value) != meta["length"]:
            raise ConfigError(path, f"must have exactly {meta['length']} entries, got {len(value)}")
        inner_meta = {k: v for k, v in meta.items() if k != "length"}
        return tuple(_convert(v, elem_tp, inner_meta, f"{path}[{i}]") for i, v in enumerate(value))
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, f"must be a table, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"must be a string, got {value!r}")
        return value
    if tp in (int, float):
        ok = isinstance(value, int) and not isinstance(value, bool)
        if tp is float:
            ok = ok or isinstance(value, float)
        if not ok:
            raise ConfigError(path, f"must be {wanted}, got {value!r}")
        value = tp(value)
        if tp is float and not math.isfinite(value):
            raise ConfigError(path, f"must be a finite number {rng}".rstrip() + f", got {value!r}")
        if (
            (meta.get("ge") is not None and value < meta["ge"])
            or (meta.get("le") is not None and value > meta["le"])
            or (meta.get("gt") is not None and value <= meta["gt"])
            or (meta.get("lt") is not None and value >= meta["lt"])
        ):
            raise ConfigError(path, f"must be {wanted}, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {path}")


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; missing keys take their defaults.

    :raises ConfigError: on an unknown key, a wrong type, an out-of-range value
        or a broken cross-field rule (``cls.check``).
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # cls is a dataclass
    for key in data:
        if key not in fields:
            path = f"{prefix}.{key}" if prefix else key
            raise ConfigError(path, "unknown key; allowed keys here: " + ", ".join(sorted(fields)))
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            path = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _convert(data[name], hints[name], dict(f.metadata), path)
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if check is not None:
        try:
            check()
        except ConfigError as err:
            field = err.field
            if err.involves:  # blame the field the user set (the others kept their defaults)
                given = [name for name in err.involves if name in data]
                field = _section(prefix) + (given or list(err.involves))[0]
            elif prefix and not field.startswith(prefix):
                field = f"{prefix}.{field}"
            raise ConfigError(field, err.message) from None
    return obj


def _section(prefix: str) -> str:
    return f"{prefix}." if prefix else ""


def to_dict(obj: Any) -> Any:
    """Plain-data (TOML/JSON-friendly) view of a config dataclass."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def load_toml(path: str | Path, field: str = "--config") -> dict[str, Any]:
    """Parse a TOML file; any reason it cannot be read is one :class:`ConfigError` naming ``field`` and the file.

    :param field: how the user gave the file (``--config``, ``SPEC``, a config key).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(field, f"file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(field, f"{path} is a folder, not a TOML file") from None
    except OSError as err:
        raise ConfigError(field, f"cannot read {path}: {err.strerror or err}") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(field, f"{path} is not a UTF-8 text file (byte {err.start}): TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(field, f"{path} is not valid TOML: {err}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=VALUE`` where VALUE is a TOML value (bare words are strings)."""
    if "=" not in text:
        raise ConfigError("--set", f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError("--set", f"empty key in {text!r}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def set_path(data: dict[str, Any], keys: list[str], value: Any) -> None:
    """Set ``data[k0][k1]...`` = value, creating tables on the way."""
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(".".join(keys), f"{key!r} is not a table")
        node = child
    node[keys[-1]] = value


def replace_nested(obj: T, **changes: Any) -> T:
    """``dataclasses.replace`` that accepts dotted keys: ``replace_nested(cfg, **{"classroom.students": 5})``."""
    data = to_dict(obj)
    for dotted, value in changes.items():
        set_path(data, dotted.split("."), to_dict(value))
    return from_dict(type(obj), data)
