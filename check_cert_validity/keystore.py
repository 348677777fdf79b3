"""Keystores for ``--file`` and ``--expect-file``: PKCS#12 read, Java's own formats named.

``load`` reads a file (``certfile.read``) and tells what it is. A PKCS#12
store (``.p12``/``.pfx``: what Java 9+ keytool, OpenSSL and Windows write)
is opened here: its certificates come out leaf first (the one that matches
the private key, when there is one, which the library's parser puts first),
then the rest in the store's order; the key itself is never kept. Anything
else goes to ``certfile.parse``.

The password comes from a file (``--file-password-file``), read like
``openssl -passin file:`` reads one: its first line without the newline.
Without one, the empty password and no password are tried, which opens
the stores OpenSSL writes with ``-passout pass:`` or without encryption.

The library raises the same error for a wrong password and for a damaged
store, and the two call for different states: a wrong or missing password
means the check is misconfigured (UNKNOWN), a damaged store is what a failed
creation looks like (CRITICAL, like any unreadable certificate file). So the
store's DER framing is checked here first: a store cut short or with broken
framing is damaged; one whose framing is whole but that no password opens
has the wrong password. (Bytes changed inside the encrypted, MAC-protected
part cannot be told from a wrong password by anyone: that reads as one.)

Java's older formats, JKS and JCEKS, have no maintained Python reader: they
get one line naming the ``keytool`` command that converts them (UNKNOWN,
the check is pointed at a format it cannot read). No password, and nothing
of a key, appears in any message.
"""

from __future__ import annotations

import os
import shlex
import stat
import warnings

from check_cert_validity import certfile, der
from check_cert_validity.certfile import CertBundle, CertFileError
from check_cert_validity.certinfo import clean

# The magic numbers that open Java's proprietary keystores.
_JAVA_STORES = {
    b"\xfe\xed\xfe\xed": "a Java KeyStore (JKS)",
    b"\xce\xce\xce\xce": "a Java JCEKS keystore",
}
_SEQUENCE, _OCTET_STRING, _CONTEXT_0 = 0x30, 0x04, 0xA0
_INDEFINITE = b"\x80"  # a BER length: "until the end-of-contents marker"
_PFX_VERSION = b"\x02\x01\x03"  # INTEGER 3: the only PFX version (RFC 7292, section 4)
_ID_DATA = bytes.fromhex("06092a864886f70d010701")  # OID 1.2.840.113549.1.7.1
# openssl -passin file: reads at most 1 KiB too (APP_PASS_LEN); longer is no password file.
MAX_PASSWORD = 1024


def load(path: str, password_file: str | None = None) -> CertBundle:
    """The certificates in the file at ``path``, a keystore or any certificate file.

    The password file is read only when the file is a PKCS#12 store.
    """
    data = certfile.read(path)
    java = _JAVA_STORES.get(data[:4])
    if java is not None:
        raise CertFileError(f"{java}, which cannot be read: {conversion(path)}", cannot_look=True)
    if not is_pkcs12(data):
        return certfile.parse(data)
    password = None if password_file is None else read_password(password_file)
    return parse_pkcs12(data, password, password_file)


def conversion(path: str) -> str:
    """How to convert a Java keystore at ``path`` to PKCS#12 beside it (one line)."""
    root, ext = os.path.splitext(path)
    target = root + ".p12" if ext.lower() in (".jks", ".jceks") else path + ".p12"
    command = ["keytool", "-importkeystore", "-srckeystore", path, "-destkeystore", target]
    return clean(f"convert it with {shlex.join([*command, '-deststoretype', 'pkcs12'])}", 700)


def is_pkcs12(data: bytes) -> bool:
    """Does ``data`` start like a PFX (a SEQUENCE whose first element is INTEGER 3)?

    A certificate's first element is a SEQUENCE, a CRL's too: this cannot be
    one of them. A store cut short is still recognised by its first bytes.
    """
    if not data or data[0] != _SEQUENCE:
        return False
    if data[1:2] == _INDEFINITE:
        return data[2 : 2 + len(_PFX_VERSION)] == _PFX_VERSION
    try:
        _, body, _ = der.header(data)
    except ValueError:
        return False
    return data[body : body + len(_PFX_VERSION)] == _PFX_VERSION


def framing_fault(data: bytes) -> str | None:
    """Why a PFX's DER framing is broken (cut short, a bad length), or None when whole.

    Checks the PFX and, inside its authenticated safe (the part the MAC
    covers), every element down to the encrypted contents, which only a
    password opens.
    """
    if data[1:2] == _INDEFINITE:
        return None  # BER, as some older tools wrote: the library alone can judge it
    try:
        _, body, end = der.header(data)
        if end > len(data):
            return f"cut short: {len(data)} of its {end} bytes"
        der.check_nested(data, body, end)
        _, safe, safe_end = der.header(data, body + len(_PFX_VERSION))
        if data[safe : safe + len(_ID_DATA)] != _ID_DATA:
            return None  # signed (public-key integrity mode): nothing more to check here
        tag, inner, inner_end = der.header(data, safe + len(_ID_DATA))
        if tag != _CONTEXT_0 or inner_end > safe_end:
            return "no content where its authenticated safe should be"
        tag, octets, octets_end = der.header(data, inner)
        if tag == _OCTET_STRING:
            if octets == octets_end:
                return "its authenticated safe is empty"
            der.check_nested(data, octets, octets_end)
    except ValueError as exc:
        return str(exc)
    return None


def parse_pkcs12(
    data: bytes, password: bytes | None, password_file: str | None = None
) -> CertBundle:
    """The certificates in a PKCS#12 store, leaf first; raises CertFileError.

    ``password`` is None when none was given (``password_file`` names where
    a given one came from, for the message).
    """
    from cryptography.hazmat.primitives.serialization import pkcs12

    fault = framing_fault(data)
    if fault is not None:
        raise CertFileError(f"a damaged PKCS#12 store ({fault})")
    # A store without encryption opens with any password in some versions of
    # the library (cryptography 50) and with the empty one only in others (38).
    candidates = [b"", None] if not password else [password, b"", None]
    for candidate in candidates:
        try:
            # cryptography warns about a BER store and about negative serial numbers;
            # Icinga would append that to the check output.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                store = pkcs12.load_pkcs12(data, candidate)
            break
        except ValueError:
            continue
    else:
        raise CertFileError(_wrong_password(password, password_file), cannot_look=True)
    first = () if store.cert is None else (store.cert.certificate,)
    certificates = (*first, *(extra.certificate for extra in store.additional_certs))
    if not certificates:
        holds = "a private key" if store.key is not None else "nothing"
        raise CertFileError(f"no certificate in the PKCS#12 store (it holds: {holds})")
    skipped = ("PRIVATE KEY",) if store.key is not None else ()
    return CertBundle(certificates, "PKCS#12", skipped)


def _wrong_password(password: bytes | None, password_file: str | None) -> str:
    if password is None:
        return (
            "the PKCS#12 store needs a password (the empty one does not open it): "
            "give a file holding it with --file-password-file"
        )
    where = (
        "the password given"
        if password_file is None
        else f"the password in {clean(password_file, 200)}"
    )
    hint = ""
    if password.endswith(b"\r"):
        hint = " (its line ends in a carriage return, which counts as part of the password)"
    return f"{where} does not open the PKCS#12 store{hint}"


def read_password(path: str) -> bytes:
    """The first line of the file at ``path``, without its newline; raises CertFileError.

    Every failure is UNKNOWN (``cannot_look``): it says nothing about the
    certificate. The messages name the file, never what it holds.
    """
    where = f"password file {clean(path, 200)}"
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block the check
            raise CertFileError(f"{where}: is not a regular file", cannot_look=True)
        with open(path, "rb") as handle:
            line = handle.readline(MAX_PASSWORD + 1)
    except FileNotFoundError:
        raise CertFileError(f"{where}: no such file", cannot_look=True) from None
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise CertFileError(f"{where}: cannot read it: {reason}", cannot_look=True) from None
    if len(line) > MAX_PASSWORD and not line.endswith(b"\n"):
        raise CertFileError(
            f"{where}: its first line is longer than {MAX_PASSWORD} bytes", cannot_look=True
        )
    return line[:-1] if line.endswith(b"\n") else line
