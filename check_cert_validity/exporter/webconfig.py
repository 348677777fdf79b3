"""``--web.config.file``: TLS and basic auth in the format of Prometheus' exporter-toolkit.

The file is the one every Prometheus exporter reads (exporter-toolkit's
``docs/web-configuration.md``)::

    tls_server_config:
      cert_file: server.crt        # relative paths: to the web config's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: clients.crt
      min_version: TLS12
    basic_auth_users:
      prometheus: $2b$12$...       # bcrypt

What Python's ``ssl`` cannot do is refused with its reason rather than
half-done: client certificates that are requested but not verified
(``RequestClientCert``, ``RequireAnyClientCert``), cipher suite and curve
lists, ``http_server_config``.

As exporter-toolkit does, the file (and the certificate, key and CA files it
names) is looked at again on every connection and request, by mtime: a
rotated certificate or a removed user takes effect without a restart. A file
that turns bad after the start fails closed: every request is answered 500
until it is fixed, so a broken edit never keeps a removed user's password
valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import ssl
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("check_cert_validity.exporter")

VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNSUPPORTED_AUTH = ("RequestClientCert", "RequireAnyClientCert")
TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version"}
TLS_KEYS |= {"max_version"}
MAX_CACHED = 1024
_dummy: list[bytes] = []


def _dummy_hash() -> bytes:
    """A real hash of a random password, checked when the user is unknown.

    An unknown user then costs as long as a wrong password, so user names
    cannot be told apart by timing.
    """
    if not _dummy:
        import bcrypt

        _dummy.append(bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(10)))
    return _dummy[0]


class WebConfigError(Exception):
    """The web config cannot be used; the message is one line."""


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """``tls_server_config``, with paths made absolute."""

    cert_file: str
    key_file: str
    client_auth: ssl.VerifyMode
    client_ca_file: str | None
    min_version: ssl.TLSVersion
    max_version: ssl.TLSVersion | None


@dataclass(frozen=True, slots=True)
class WebConfig:
    """One reading of the web config file."""

    tls: TLSSettings | None
    users: dict[str, bytes] = field(default_factory=dict)

    def files(self) -> tuple[str, ...]:
        """The files this reading depends on besides the web config itself."""
        if self.tls is None:
            return ()
        named = (self.tls.cert_file, self.tls.key_file, self.tls.client_ca_file)
        return tuple(name for name in named if name)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise WebConfigError(f"{where} must be a non-empty string")
    return value


def parse(document: Any, directory: Path) -> WebConfig:
    """The checked web config from the parsed YAML; raises WebConfigError."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise WebConfigError("the web config must be a mapping")
    unknown = set(document) - {"tls_server_config", "basic_auth_users"}
    if unknown:
        raise WebConfigError(
            f"unsupported web config key(s): {', '.join(sorted(map(str, unknown)))}"
        )
    tls = _tls(document.get("tls_server_config"), directory)
    users_doc = document.get("basic_auth_users") or {}
    if not isinstance(users_doc, dict):
        raise WebConfigError("basic_auth_users must map user names to bcrypt hashes")
    users: dict[str, bytes] = {}
    for user, hashed in users_doc.items():
        name = _text(user, "a basic_auth_users name")
        text = _text(hashed, f"the hash of basic_auth_users {name!r}")
        if not text.startswith(("$2a$", "$2b$", "$2y$")) or len(text) != 60:
            raise WebConfigError(f"the hash of basic_auth_users {name!r} is not a bcrypt hash")
        users[name] = text.encode("ascii", "replace")
    if users:
        try:
            import bcrypt  # noqa: F401  (a missing library is a start-up error, not a 500)
        except ImportError:
            raise WebConfigError(
                "basic_auth_users needs the bcrypt library (pip install '.[exporter]')"
            ) from None
    return WebConfig(tls, users)


def _tls(section: Any, directory: Path) -> TLSSettings | None:
    if section is None:
        return None
    if not isinstance(section, dict):
        raise WebConfigError("tls_server_config must be a mapping")
    unknown = set(section) - TLS_KEYS
    if unknown:
        raise WebConfigError(
            f"unsupported tls_server_config key(s): {', '.join(sorted(map(str, unknown)))}"
        )
    if "cert_file" not in section or "key_file" not in section:
        raise WebConfigError("tls_server_config needs both cert_file and key_file")
    cert = str(directory / _text(section["cert_file"], "cert_file"))
    key = str(directory / _text(section["key_file"], "key_file"))
    auth_name = section.get("client_auth_type", "NoClientCert")
    if auth_name in UNSUPPORTED_AUTH:
        raise WebConfigError(
            f"client_auth_type {auth_name} is not supported (unverified client certificates): "
            "use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
        )
    if auth_name not in CLIENT_AUTH:
        raise WebConfigError(
            f"client_auth_type must be one of {', '.join(CLIENT_AUTH)}, not {auth_name!r}"
        )
    ca = section.get("client_ca_file")
    ca_path = str(directory / _text(ca, "client_ca_file")) if ca is not None else None
    if CLIENT_AUTH[auth_name] != ssl.CERT_NONE and ca_path is None:
        raise WebConfigError(f"client_auth_type {auth_name} needs client_ca_file")
    return TLSSettings(
        cert,
        key,
        CLIENT_AUTH[auth_name],
        ca_path,
        _version(section.get("min_version", "TLS12"), "min_version"),
        _version(section["max_version"], "max_version") if "max_version" in section else None,
    )


def _version(name: Any, where: str) -> ssl.TLSVersion:
    if name not in VERSIONS:
        raise WebConfigError(f"{where} must be one of {', '.join(VERSIONS)}, not {name!r}")
    return VERSIONS[name]


def load(path: str) -> WebConfig:
    """Read and check the web config file; raises WebConfigError with a one-line reason."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WebConfigError(f"cannot read web config {path}: {_reason(exc)}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise WebConfigError(f"web config {path} is not valid YAML{where}") from None
    try:
        config = parse(document, Path(path).resolve().parent)
        if config.tls is not None:
            context(config.tls)  # a missing or mismatched key: refused now, not at each handshake
    except WebConfigError as exc:
        raise WebConfigError(f"web config {path}: {exc}") from None
    return config


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


def context(tls: TLSSettings) -> ssl.SSLContext:
    """The server context for these settings; raises WebConfigError."""
    made = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tls.min_version < ssl.TLSVersion.TLSv1_2:
        # OpenSSL 3's default security level refuses TLS 1.0 and 1.1 whatever
        # the minimum says; an operator who asks for them gets them.
        made.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: the operator asked
        warnings.simplefilter("ignore", DeprecationWarning)
        made.minimum_version = tls.min_version
        if tls.max_version is not None:
            made.maximum_version = tls.max_version
    try:
        made.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(
            f"cannot load cert_file {tls.cert_file} with key_file {tls.key_file}: {_reason(exc)}"
        ) from None
    made.verify_mode = tls.client_auth
    if tls.client_ca_file is not None:
        try:
            made.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(
                f"cannot load client_ca_file {tls.client_ca_file}: {_reason(exc)}"
            ) from None
    return made


def _stamp(paths: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    stamps = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            stamps.append((0, 0, 0))
        else:
            stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
    return tuple(stamps)


class WebConfigWatcher:
    """The current web config, read again whenever one of its files changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.config = load(path)
        self.ssl_context = context(self.config.tls) if self.config.tls else None
        self.error: str | None = None
        self._stamps = _stamp((path, *self.config.files()))
        self._verified: dict[bytes, None] = {}

    def refresh(self) -> None:
        """Look at the files' mtimes; read them again if any changed."""
        stamps = _stamp((self.path, *self.config.files()))
        if stamps == self._stamps:
            return
        try:
            fresh = load(self.path)
            fresh_context = context(fresh.tls) if fresh.tls else None
        except WebConfigError as exc:
            if self.error != str(exc):
                log.error("web config reload failed, answering 500 until fixed: %s", exc)
            self.error = str(exc)
        else:
            self.config, self.ssl_context, self.error = fresh, fresh_context, None
            self._verified.clear()
            log.info("web config reloaded from %s", self.path)
        # stamped after the read: a file changed again meanwhile is read next time
        self._stamps = _stamp((self.path, *self.config.files()))

    def check_password(self, authorization: str | None) -> bool:
        """Whether the Authorization header names a user with the right password.

        Blocking (bcrypt is slow on purpose): run it off the event loop.
        """
        users = self.config.users
        if not users:
            return True
        user, password = _credentials(authorization)
        hashed = users[user] if user in users else _dummy_hash()
        # bcrypt's cost runs on every scrape otherwise; a verified pair is
        # remembered by a keyed digest, never in the clear.
        key = hmac.digest(hashed, f"{user}\0{password}".encode(), hashlib.sha256)
        if user in users and key in self._verified:
            return True
        import bcrypt

        try:
            good = bcrypt.checkpw(password.encode("utf-8"), hashed)
        except ValueError:  # a hash bcrypt cannot read: no password matches it
            good = False
        good = good and user in users
        if good:
            if len(self._verified) >= MAX_CACHED:
                self._verified.clear()
            self._verified[key] = None
        return good


def _credentials(authorization: str | None) -> tuple[str | None, str]:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None, ""
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, "")
