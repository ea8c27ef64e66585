"""Configuration of the ``opcua`` adapter kind: the twin as an OPC UA client of a PLC.

Pydantic models only; validated without I/O. Each mapping names its PLC variable by a NodeId
string, ``ns=2;s=Temp`` or, robust against a server that renumbers its namespaces,
``nsu=urn:plc:vars;s=Temp`` (resolved through the server's namespace array at connect).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from asyncua import ua
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from adapters.config import (
    AdapterConfig,
    FaultInput,
    SignalInput,
    SignalOutput,
    StateOutput,
    clash,
)
from adapters.opcua.certs import certificate_der, load_file, private_key, to_x509

__all__ = [
    "OpcUaConfig",
    "OpcUaFaultInput",
    "OpcUaSignalInput",
    "OpcUaSignalOutput",
    "OpcUaStateOutput",
    "SecurityMode",
    "SecurityPolicy",
    "parse_node",
]

#: OPC UA security policies (names as in the specification), strongest last.
SecurityPolicy = Literal["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"]
SecurityMode = Literal["None", "Sign", "SignAndEncrypt"]

# the forms asyncua parses, without its lenient extras (srv=, unknown keys, ns and nsu both)
_NODE_FORM = re.compile(r"(?:ns=\d+;|nsu=[^;]+;)?[isgb]=.+", re.DOTALL)


def parse_node(text: str) -> ua.NodeId:
    """The NodeId (or ExpandedNodeId, for ``nsu=``) that ``text`` names; ValueError naming
    ``text`` when it is not one."""
    if not _NODE_FORM.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a NodeId (e.g. 'ns=2;s=Temp', 'ns=3;i=1001', "
            "'nsu=urn:plc:vars;s=Temp')"
        )
    try:
        return ua.NodeId.from_string(text)
    except ua.UaStringParsingError as exc:
        cause = exc.args[1] if len(exc.args) > 1 else exc
        raise ValueError(f"{text!r} is not a NodeId: {cause}") from None


def _node(text: str) -> str:
    parse_node(text)
    return text


NodeIdText = Annotated[
    str,
    AfterValidator(_node),
    Field(description="NodeId of the PLC variable: 'ns=2;s=Temp' or 'nsu=<uri>;s=Temp'"),
]


class OpcUaSignalInput(SignalInput):
    node: NodeIdText


class OpcUaSignalOutput(SignalOutput):
    node: NodeIdText


class OpcUaFaultInput(FaultInput):
    node: NodeIdText


class OpcUaStateOutput(StateOutput):
    node: NodeIdText


#: a file the adapter reads at each connect: what it is, and how it is read
_FILES = {
    "server_certificate": ("the PLC's certificate, DER or PEM", certificate_der),
    "certificate": ("the adapter's client certificate, DER or PEM", certificate_der),
    "private_key": ("the client certificate's private key, PEM or DER", private_key),
}


class OpcUaConfig(AdapterConfig):
    """A PLC's OPC UA server: where it is, how to secure the link, what to map.

    Security None is never a default: it needs ``security_policy = "None"`` and
    ``security_mode = "None"`` both. An encrypted link verifies the PLC: by its certificate
    (``server_certificate``) or, when the file says so (``trust_on_first_use``), by the one it
    presented at the first connect; a link that would accept any certificate is refused, as
    is a user's password on an unencrypted link (it would go to whoever answers at ``url``).
    The password is read from the environment variable
    ``password_env`` when connecting (not here: validation needs no environment), so an unset
    variable shows as a connect failure naming ``password_env``.
    """

    kind: Literal["opcua"]
    url: str = Field(description="the PLC's endpoint, e.g. opc.tcp://10.0.0.5:4840")
    security_policy: SecurityPolicy = "Basic256Sha256"
    security_mode: SecurityMode = "SignAndEncrypt"
    certificate: Path | None = Field(None, description="client certificate (DER or PEM)")
    private_key: Path | None = Field(None, description="its private key (PEM)")
    server_certificate: Path | None = Field(
        None, description="the PLC's certificate: pinned, any other is refused"
    )
    trust_on_first_use: bool = Field(
        False,
        strict=True,
        description="without server_certificate: pin the certificate the PLC presents at the"
        " first connect (pki_dir/trusted/plc.der) and refuse any other after",
    )
    pki_dir: Path | None = Field(
        None, description="where a generated client certificate is kept (var/adapters/NAME/pki)"
    )
    username: str | None = Field(None, min_length=1)
    password_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    use_subscription: bool = Field(
        True,
        strict=True,
        description="inputs by a subscription (publishing interval period_s), else polled",
    )
    read: tuple[OpcUaSignalInput, ...] = ()
    write: tuple[OpcUaSignalOutput, ...] = ()
    fault: tuple[OpcUaFaultInput, ...] = ()
    state: tuple[OpcUaStateOutput, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "password: never in the file; name an environment variable in password_env"
            )
        return data

    @field_validator("server_certificate", "certificate", "private_key")
    @classmethod
    def _readable(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        # read at each connect: missing or unusable, the link would retry forever
        if v is None:
            return v
        what, read = _FILES[str(info.field_name)]
        if not v.is_file():
            why = "is a folder" if v.is_dir() else "no such file"
            raise ValueError(f"{str(v)!r}: {why} ({what})")
        try:
            read(v)
        except OSError as exc:
            raise ValueError(f"{str(v)!r}: cannot read it: {exc.strerror or exc}") from None
        except ValueError as exc:
            kind = "private key" if read is private_key else "certificate"
            raise ValueError(f"{str(v)!r}: not a {kind} ({exc}; {what})") from None
        return v

    @field_validator("url")
    @classmethod
    def _opc_tcp(cls, v: str) -> str:
        try:
            url = urlparse(v)
            port = url.port
        except ValueError as exc:
            raise ValueError(f"{v!r} is not a URL: {exc}") from None
        if url.scheme != "opc.tcp" or not url.hostname or port is None:
            raise ValueError(f"{v!r}: must be opc.tcp://HOST:PORT[/path]")
        if "@" in url.netloc:
            raise ValueError("no user or password in the URL: use username and password_env")
        return v

    @model_validator(mode="after")
    def _security(self) -> OpcUaConfig:
        if (self.security_policy == "None") != (self.security_mode == "None"):
            raise ValueError(
                f"security_mode: {self.security_mode!r} does not go with security_policy "
                f'{self.security_policy!r} (no security needs both set to "None")'
            )
        if (self.certificate is None) != (self.private_key is None):
            raise ValueError("certificate: give certificate and private_key together")
        if self.certificate is not None and self.private_key is not None:
            public = to_x509(load_file(self.certificate)).public_key()
            if private_key(self.private_key).public_key() != public:
                raise ValueError(
                    f"private_key: {str(self.private_key)!r} is not the key of certificate"
                    f" {str(self.certificate)!r}"
                )
        if self.username is not None and self.password_env is None:
            raise ValueError(
                "password_env: required with username (the variable holding the password)"
            )
        if self.password_env is not None and self.username is None:
            raise ValueError("username: required with password_env")
        if self.security_policy == "None":
            for name in ("certificate", "server_certificate"):
                if getattr(self, name) is not None:
                    raise ValueError(f'{name}: not used with security_policy "None"')
            if self.trust_on_first_use:
                raise ValueError('trust_on_first_use: not used with security_policy "None"')
            if self.username is not None:
                raise ValueError(
                    'username: not with security_policy "None": the password would go to'
                    f" whoever answers at {self.url}; use an encrypted link with"
                    " server_certificate"
                )
        elif self.server_certificate is None and not self.trust_on_first_use:
            raise ValueError(
                "server_certificate: required (the PLC's certificate, DER or PEM): without it"
                " any server answering at the URL is taken for the PLC"
                + (" and gets the password" if self.username is not None else "")
                + "; or set trust_on_first_use = true to pin the certificate it presents at"
                " the first connect"
            )
        elif self.server_certificate is not None and self.trust_on_first_use:
            raise ValueError(
                "trust_on_first_use: not with server_certificate (it pins the PLC's"
                " certificate already)"
            )
        return self

    @model_validator(mode="after")
    def _nodes_apart(self) -> OpcUaConfig:
        """An output's node is no input's (the twin would read back what it writes), and two
        outputs do not write one node."""
        written: dict[str, str] = {}
        for name, m in self.named(True):
            other = written.setdefault(m.node, name)
            if other != name:
                raise ValueError(f"{name}.node: {m.node!r} is also written by {other}")
        for name, m in self.named(False):
            node = m.node
            if node in written:
                raise ValueError(
                    f"{name}.node: {node!r} is written by {written[node]}: the twin would read"
                    " back what it writes"
                )
        return self

    def clashes(self, other: AdapterConfig, named: str) -> list[tuple[str, str]]:
        """Two adapters of one PLC (``url``) must not write one node, nor one read a node
        the other writes (as within one adapter; by the NodeId as written: one named both
        by ``ns=`` and ``nsu=`` is found at connect). One ``pki_dir`` for two adapters:
        the client certificate made there names one of them (the other would make a new one
        at each start), and both would pin their PLC's certificate in one file (the second
        PLC refused as a man in the middle)."""
        if not isinstance(other, OpcUaConfig):
            return []
        found = self._nodes_clash(other, named) if _same_url(self.url, other.url) else []
        if not (self.uses_pki and other.uses_pki):
            return found
        if os.path.abspath(self.pki_path) != os.path.abspath(other.pki_path):
            return found
        mine = f"{str(self.pki_path)!r}" + ("" if self.pki_dir else " (the default)")
        theirs = "pki_dir" if other.pki_dir else "default pki_dir"
        why = (
            f"{mine} is also the {theirs} of {named}: each adapter needs its own (the client"
            " certificate made there names its adapter, and the PLC's certificate is pinned"
            " there)"
        )
        return [*found, ("pki_dir", why)]

    def _nodes_clash(self, other: OpcUaConfig, named: str) -> list[tuple[str, str]]:
        theirs = {w: _node_names(other, w) for w in (True, False)}
        found: list[tuple[str, str]] = []
        for written in (True, False):
            for node, name in _node_names(self, written).items():
                why = clash(repr(node), node, written, theirs, named)
                if why is not None:
                    found.append((f"{name}.node", why))
        return found

    @property
    def uses_pki(self) -> bool:
        """``pki_path`` holds something of this adapter's: its generated client certificate
        or its PLC's certificate pinned on first use."""
        secure = self.security_policy != "None"
        return secure and (self.certificate is None or self.trust_on_first_use)

    @property
    def insecure_by(self) -> str | None:
        return "security_policy" if self.security_policy == "None" else None

    @property
    def unencrypted(self) -> str | None:
        return 'security_policy "None"' if self.security_policy == "None" else None

    @property
    def pins_at(self) -> Path | None:
        """``pinned_path`` with ``trust_on_first_use`` until the first connect pinned the
        PLC's certificate there."""
        secure = self.security_policy != "None"
        if not secure or self.server_certificate is not None or self.pinned_path.is_file():
            return None
        return self.pinned_path

    @property
    def pki_path(self) -> Path:
        """Folder of the generated client certificate (``own/cert.der``, ``own/key.pem``)."""
        return (
            self.pki_dir if self.pki_dir is not None else Path("var/adapters") / self.name / "pki"
        )

    @property
    def pinned_path(self) -> Path:
        """Where ``trust_on_first_use`` keeps the certificate the PLC presented first."""
        return self.pki_path / "trusted" / "plc.der"


def _node_names(cfg: OpcUaConfig, written: bool) -> dict[str, str]:
    """The outputs' (``written``) or inputs' NodeId texts -> the first mapping naming each
    (``write[0]``)."""
    names: dict[str, str] = {}
    for name, m in cfg.named(written):
        names.setdefault(m.node, name)
    return names


def _same_url(a: str, b: str) -> bool:
    """One server: the URLs alike but for the case of scheme and host and a final slash."""

    def key(url: str) -> tuple[str, str, str]:
        parts = urlparse(url)
        return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")

    return key(a) == key(b)
