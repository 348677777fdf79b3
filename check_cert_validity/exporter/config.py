"""The exporter's YAML config: modules, ``allowed_targets`` and the StatsD loop.

A module's keys are the plugin's long option names with ``_`` for ``-``, and
their values are written as on the command line, so a module means what the
same options mean to the plugin. Each key is read with its option's own
converter from the option table (``options.OPTIONS``); nothing here knows what
a duration or a range looks like. ``ip_protocol`` (``ipv4``/``ipv6``) stands
for the ``-4``/``-6`` pair; ``timeout`` may end in ``s``. ``prober`` says what
a target names: ``tls`` (the default: an endpoint, as ``-H``), ``file`` (a
path, as ``--file``: certificates or CRLs on the exporter's own disk) or
``crl`` (an http(s) URL, as ``--crl``).

Every error names the file, the line, the module and the key, so that an
operator finds it at once; at start the exporter exits with it, on reload it
keeps the old config.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

import yaml

from check_cert_validity import statsd
from check_cert_validity.durations import DurationError, parse_duration
from check_cert_validity.exporter.targets import Allowed, TargetError, parse_target
from check_cert_validity.options import OPTIONS, Option
from check_cert_validity.states import State
from check_cert_validity.thresholds import Policy, ThresholdError

# The plugin options a module may set; the others (-H, -p, --now, --output,
# ...) belong to the target or the process, not to a kind of endpoint.
MODULE_KEYS = (
    "validity",
    "rotation",
    "warning",
    "critical",
    "starttls",
    "sni",
    "no_sni",
    "ip_protocol",
    "timeout",
    "chain",
    "client_cert",
    "client_key",
    "unreachable_state",
    "crl_validity",
    "crl_rotation",
    "prober",
    "file_password_file",
    "crl_from_cert",
)
PROBERS = ("tls", "file", "crl")
# What only a TLS endpoint has: meaningless for a file or a download.
ENDPOINT_KEYS = (
    "starttls",
    "sni",
    "no_sni",
    "ip_protocol",
    "client_cert",
    "client_key",
    "crl_from_cert",
)
TOP_KEYS = ("modules", "allowed_targets", "statsd")
STATSD_KEYS = ("address", "prefix", "interval", "targets")


class ConfigError(Exception):
    """The config cannot be used; the message names where and why (one line)."""


def _by_key() -> dict[str, Option]:
    table: dict[str, Option] = {}
    for option in OPTIONS:
        for flag in option.flags:
            if flag.startswith("--"):
                table.setdefault(flag[2:].replace("-", "_"), option)
    return table


_OPTIONS = _by_key()
_FAMILIES = {key: _OPTIONS[key] for key in ("ipv4", "ipv6")}


class _Mapping(dict[Any, Any]):
    """A YAML mapping that remembers the line of each key (1-based)."""

    lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings know their keys' lines, for error messages."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Mapping:
    loader.flatten_mapping(node)
    mapping = _Mapping()
    mapping.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ConfigError(
                f"line {key_node.start_mark.line + 1}: keys must be text, not {key!r}"
            )
        if key in mapping:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: {key!r} given twice")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True, slots=True)
class Module:
    """One module: the plugin options it sets, read, and the policy they make.

    ``given`` keeps the keys as written (for the landing page); ``context`` is
    the TLS client context every probe of this module shares, offering the
    classical key-exchange groups; ``default_groups_context`` is the same with
    OpenSSL's own groups, for endpoints that refuse those (``groups.py``).
    """

    name: str
    policy: Policy
    timeout: float = 10.0
    starttls: str | None = None
    sni: str | None = None
    no_sni: bool = False
    family: int = 0
    unreachable_state: str = "critical"
    prober: str = "tls"
    file_password_file: str | None = None
    crl_from_cert: bool = False
    client_cert: str | None = None
    client_key: str | None = None
    given: tuple[tuple[str, str], ...] = ()
    context: Any = field(default=None, compare=False, repr=False)
    default_groups_context: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class StatsdTarget:
    """One endpoint the StatsD loop probes."""

    host: str
    port: int | None
    module: str
    text: str


@dataclass(frozen=True, slots=True)
class StatsdConfig:
    """Where and how often the StatsD loop sends."""

    host: str
    port: int
    prefix: str
    interval: float
    targets: tuple[StatsdTarget, ...]


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, checked config."""

    modules: dict[str, Module]
    allowed: Allowed | None = None
    statsd: StatsdConfig | None = None
    source: str = "(built in)"


def _convert(option: Option, key: str, value: object) -> object:
    """A YAML value as the plugin's parser would read the same text."""
    if option.kind == "flag":
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {value!r}")
        return value
    if isinstance(value, (dict, list)) or value is None or isinstance(value, bool):
        raise ValueError(f"must be a value as written on the command line, not {value!r}")
    text = str(value)
    if key == "timeout" and text.endswith("s"):
        text = text[:-1]  # "5s": the unit -t implies may be written
    if option.choices is not None and text not in option.choices:
        raise ValueError(f"{text!r} is not one of {', '.join(option.choices)}")
    if option.convert is None:
        return text
    try:
        return option.convert(text)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None


def build_module(name: str, keys: dict[str, Any], where: str = "") -> Module:
    """A module from its keys; raises ConfigError naming ``where``, the module and the key."""
    lines = getattr(keys, "lines", {})

    def fail(key: str | None, message: str) -> ConfigError:
        line = lines.get(key) if key else None
        at = f"{where}:{line}" if line else where
        prefix = f"{at}: " if at else ""
        return ConfigError(f"{prefix}module {name!r}: {key + ': ' if key else ''}{message}")

    values: dict[str, object] = {}
    for key, raw in keys.items():
        if key not in MODULE_KEYS:
            raise fail(key, f"unknown key (known: {', '.join(MODULE_KEYS)})")
        try:
            if key == "ip_protocol":
                if raw not in _FAMILIES:
                    raise ValueError(f"must be ipv4 or ipv6, not {raw!r}")
                values["family"] = _FAMILIES[raw].const
            elif key == "prober":
                if raw not in PROBERS:
                    raise ValueError(f"must be one of {', '.join(PROBERS)}, not {raw!r}")
                values["prober"] = raw
            else:
                values[key] = _convert(_OPTIONS[key], key, raw)
        except ValueError as exc:
            raise fail(key, str(exc)) from None
    prober = str(values.get("prober", "tls"))
    if "file_password_file" in keys and prober != "file":
        raise fail("file_password_file", "applies to a file prober (a PKCS#12 keystore)")
    if prober != "tls":
        for key in ENDPOINT_KEYS:
            if key in keys:
                raise fail(key, f"applies to a TLS endpoint, not to a {prober} prober")
    if values.get("client_key") and not values.get("client_cert"):
        raise fail("client_key", "needs client_cert")
    if values.get("sni") and values.get("no_sni"):
        raise fail("no_sni", "sni and no_sni exclude each other")
    unreachable = str(values.get("unreachable_state", _OPTIONS["unreachable_state"].default))
    crl_policy = None
    if "crl_validity" in values or "crl_rotation" in values:
        try:
            crl_policy = Policy(
                values.get("crl_validity"),  # type: ignore[arg-type]
                values.get("crl_rotation"),  # type: ignore[arg-type]
                unreachable=State.named(unreachable),
            )
        except ThresholdError as exc:
            crl_key = "crl_rotation" if "crl_rotation" in keys else "crl_validity"
            raise fail(crl_key, str(exc).replace("--", "crl_")) from None
    try:
        policy = Policy(
            values.get("validity"),  # type: ignore[arg-type]
            values.get("rotation"),  # type: ignore[arg-type]
            values.get("warning"),  # type: ignore[arg-type]
            values.get("critical"),  # type: ignore[arg-type]
            whole_chain=bool(values.get("chain")),
            unreachable=State.named(unreachable),
            crl=crl_policy,
        )
    except ThresholdError as exc:
        culprit = "rotation" if "rotation" in keys else next(iter(keys), None)
        raise fail(culprit, str(exc)) from None
    module = Module(
        name=name,
        policy=policy,
        timeout=float(values.get("timeout", _OPTIONS["timeout"].default)),  # type: ignore[arg-type]
        starttls=values.get("starttls"),  # type: ignore[arg-type]
        sni=values.get("sni"),  # type: ignore[arg-type]
        no_sni=bool(values.get("no_sni")),
        family=int(values.get("family", 0)),  # type: ignore[call-overload]
        unreachable_state=unreachable,
        prober=prober,
        file_password_file=values.get("file_password_file"),  # type: ignore[arg-type]
        crl_from_cert=bool(values.get("crl_from_cert")),
        client_cert=values.get("client_cert"),  # type: ignore[arg-type]
        client_key=values.get("client_key"),  # type: ignore[arg-type]
        given=tuple((key, str(raw)) for key, raw in keys.items()),
    )
    try:
        context, default_groups = _contexts(module)
    except ValueError as exc:
        raise fail("client_cert", str(exc)) from None
    object.__setattr__(module, "context", context)
    object.__setattr__(module, "default_groups_context", default_groups)
    return module


def _contexts(module: Module) -> tuple[Any, Any]:
    """The module's shared TLS contexts, classical groups and OpenSSL's own (client
    identity read once, here); the same one twice where the groups cannot be set."""
    from check_cert_validity import clientcert, probe
    from check_cert_validity.exporter import groups

    identity = None
    if module.client_cert:
        try:
            identity = clientcert.load(module.client_cert, module.client_key)
        except clientcert.ClientCertError as exc:
            raise ValueError(str(exc)) from None
    alpn = None
    if module.starttls:
        from check_cert_validity.starttls import PROTOCOLS

        alpn = PROTOCOLS[module.starttls].alpn
    default_groups = probe.client_context(alpn=alpn, identity=identity)
    classical = probe.client_context(alpn=alpn, identity=identity)
    return (classical if groups.restrict(classical) else default_groups), default_groups


DEFAULT_MODULE = "default"


def default_config() -> Config:
    """What runs without ``--config.file``: the ``default`` module only."""
    return Config({DEFAULT_MODULE: build_module(DEFAULT_MODULE, {})})


def parse(text: str, source: str = "<config>") -> Config:
    """A config from YAML text; raises ConfigError."""
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}{line}: not valid YAML: {problem}") from None
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if data is None:
        data = _Mapping()
        data.lines = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping with {', '.join(TOP_KEYS)}")
    lines = getattr(data, "lines", {})
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(
                f"{source}:{lines.get(key, 0)}: unknown key {key!r} (known: {', '.join(TOP_KEYS)})"
            )
    modules_raw = data.get("modules") or {}
    if not isinstance(modules_raw, dict):
        raise ConfigError(f"{source}:{lines.get('modules')}: modules must be a mapping")
    modules: dict[str, Module] = {}
    module_lines = getattr(modules_raw, "lines", {})
    for name, keys in modules_raw.items():
        if keys is None:
            keys = {}
        if not isinstance(keys, dict):
            raise ConfigError(
                f"{source}:{module_lines.get(name)}: module {name!r}: must be a mapping of options"
            )
        modules[name] = build_module(name, keys, source)
    if DEFAULT_MODULE not in modules:
        modules[DEFAULT_MODULE] = build_module(DEFAULT_MODULE, {})
    allowed = None
    if data.get("allowed_targets") is not None:
        allowed = _allowed(data["allowed_targets"], f"{source}:{lines.get('allowed_targets')}")
    loop = None
    if data.get("statsd") is not None:
        loop = _statsd(data["statsd"], modules, f"{source}:{lines.get('statsd')}")
    return Config(modules, allowed, loop, source)


def load(path: str) -> Config:
    """The config in the file at ``path``; raises ConfigError."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse(text, path)


def _allowed(raw: object, where: str) -> Allowed:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ConfigError(f"{where}: allowed_targets must be a list of networks and host patterns")
    try:
        return Allowed.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: allowed_targets: {exc}") from None


def _statsd(raw: object, modules: dict[str, Module], where: str) -> StatsdConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: statsd must be a mapping of {', '.join(STATSD_KEYS)}")
    lines = getattr(raw, "lines", {})

    def fail(key: str, message: str) -> ConfigError:
        line = lines.get(key)
        base = where.rsplit(":", 1)[0]
        return ConfigError(f"{base}:{line}: statsd: {key}: {message}")

    for key in raw:
        if key not in STATSD_KEYS:
            raise fail(key, f"unknown key (known: {', '.join(STATSD_KEYS)})")
    try:
        host, port = statsd.parse_address(str(raw.get("address", "127.0.0.1:8125")))
    except ValueError as exc:
        raise fail("address", str(exc)) from None
    interval_text = str(raw.get("interval", "60s")).strip()
    if interval_text.replace(".", "", 1).isdigit():
        raise fail("interval", f"{interval_text!r} needs its unit (60s, 5m, 1h)")
    try:
        interval = parse_duration(interval_text)
    except DurationError as exc:
        raise fail("interval", str(exc)) from None
    if interval <= 0:
        raise fail("interval", "must be longer than zero")
    targets = []
    for item in raw.get("targets") or []:
        if not isinstance(item, dict) or "target" not in item:
            raise fail(
                "targets",
                f"each target must be {{target: HOST[:PORT], module: NAME}}, not {item!r}",
            )
        module = str(item.get("module", DEFAULT_MODULE))
        if module not in modules:
            raise fail("targets", f"unknown module {module!r} for {item['target']!r}")
        try:
            if modules[module].prober == "tls":
                host_name, target_port = parse_target(str(item["target"]))
            else:  # a path or a URL, read by the prober itself
                host_name, target_port = str(item["target"]), None
        except TargetError as exc:
            raise fail("targets", str(exc)) from None
        targets.append(StatsdTarget(host_name, target_port, module, str(item["target"])))
    prefix = str(raw.get("prefix", statsd.DEFAULT_PREFIX))
    return StatsdConfig(host, port, prefix, interval, tuple(targets))
