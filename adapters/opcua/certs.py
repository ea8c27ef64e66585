"""Certificate files of the ``opcua`` adapter: read (PEM or DER), checked to be certificates,
fingerprinted as PLCs show them. No state.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from asyncua.crypto import uacrypto
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["certificate_der", "fingerprint", "load_file", "private_key", "to_x509", "uri_of"]

_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def load_file(path: Path) -> uacrypto.CertProperties:
    """A certificate or key file's content, PEM or DER. Read in a worker thread rather than by
    asyncua, whose reads leave the file open when a connect is cancelled during one."""
    data = path.read_bytes()
    return uacrypto.CertProperties(data, "pem" if data.lstrip().startswith(b"-----") else "der")


def to_x509(cert: uacrypto.CertProperties) -> x509.Certificate:
    """The certificate in ``cert``; ValueError saying what the content is when it is none
    (e.g. ``a PEM PRIVATE KEY``)."""
    data = cert.path_or_content
    assert isinstance(data, bytes)
    if cert.extension == "pem":
        try:
            return x509.load_pem_x509_certificate(data)
        except ValueError:
            labels = [m.decode() for m in _PEM_LABEL.findall(data)]
            if labels and "CERTIFICATE" not in labels:
                raise ValueError(f"it holds a PEM {labels[0]}, not a CERTIFICATE") from None
            raise ValueError("PEM, but no readable CERTIFICATE in it") from None
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise ValueError("neither PEM nor a DER certificate") from None


def certificate_der(path: Path) -> bytes:
    """The DER of the certificate in the file ``path`` (PEM or DER); ValueError saying why
    it is none (OSError when the file cannot be read)."""
    return uacrypto.der_from_x509(to_x509(load_file(path)))


def fingerprint(der: bytes) -> str:
    """A certificate's SHA-256 fingerprint as PLCs and browsers show it (AB:CD:...)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def uri_of(cert: x509.Certificate) -> str | None:
    """The application URI a certificate names (its first URI SubjectAltName)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return str(uris[0]) if uris else None


def private_key(path: Path) -> PrivateKeyTypes:
    """The private key in the file ``path`` (PEM or DER, not encrypted: the adapter gives no
    password); ValueError saying why it is none (OSError when the file cannot be read)."""
    key = load_file(path)
    data = key.path_or_content
    assert isinstance(data, bytes)
    try:
        if key.extension == "pem":
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_der_private_key(data, password=None)
    except TypeError:  # cryptography: a password is needed
        raise ValueError("it is encrypted; the adapter takes an unencrypted key") from None
    except ValueError:
        labels = [m.decode() for m in _PEM_LABEL.findall(data)]
        if key.extension == "pem" and labels and "PRIVATE KEY" not in labels[0]:
            raise ValueError(f"it holds a PEM {labels[0]}, not a PRIVATE KEY") from None
        raise ValueError("no readable private key in it (PEM or DER)") from None
