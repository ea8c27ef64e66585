"""Client sessions that keep to their own subscriptions, and the quotas of a session and of
a user.

asyncua (2.x) keeps one set of subscriptions for the whole server and serves any
subscription id a session names: subscription ids are counted up from 78, so any
logged-in client (a viewer) could delete, switch off, modify, republish, acknowledge,
refresh or take over another session's subscriptions. ``OwnedSession`` answers a
subscription the session does not own as if it did not exist (BadSubscriptionIdInvalid,
OPC 10000-4 5.13), and transfers one to another session only for the same user
(BadUserAccessDenied otherwise, OPC 10000-4 5.13.7):

- ModifySubscription, CreateMonitoredItems, ModifyMonitoredItems, DeleteMonitoredItems,
  SetMonitoringMode and Republish of another session's subscription: BadSubscriptionIdInvalid
  for the request;
- DeleteSubscriptions, SetPublishingMode and the acknowledgements of a Publish: per
  subscription, the others are served; a Publish of a session without a subscription of its
  own is BadNoSubscription;
- TransferSubscriptions: a subscription of a session of the same user (the same user name;
  for anonymous sessions, also the same client certificate) moves, another is
  BadUserAccessDenied;
- ConditionRefresh and ConditionRefresh2 (methods): BadSubscriptionIdInvalid
  (``owned_condition_refresh``; the session of a Call request is ``SESSION``);
- SetTriggering, which asyncua does not implement, is checked by ``security.ChannelGate``
  with ``owns``.

Quotas (``Limits``), so that one client cannot take what the server has for all: a session
holds at most ``max_subscriptions_per_session`` subscriptions (BadTooManySubscriptions
beyond), and a user at most ``max_sessions_per_user`` activated sessions (anonymous sessions
count as one user). A session beyond is refused BadTooManySessions (logged on the audit
logger), unless one of the user's sessions has lost its connection (asyncua keeps such a
session until its timeout, for a reconnect): the oldest of those is closed instead, so a
client that crashes and starts again is not locked out by its own old sessions.

Relies on asyncua 2.x internals: ``InternalServer.create_session`` (replaced by ``install``),
the session's ``session_id``, ``user``, ``state``, ``_last_activity`` and its class's
``_current_connections``, the server's ``_external_sessions``, the subscription service's
``subscriptions`` (each with a ``session_id``) and its ``condition_refresh``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.internal_session import InternalSession, ServiceError, SessionState

from opcua_server.peer import PEER
from opcua_server.settings import Limits
from opcua_server.users import AUDIT_LOGGER, shown_user

__all__ = ["SESSION", "OwnedSession", "install", "owned_condition_refresh", "owns"]

_log = logging.getLogger(__name__)
_audit = logging.getLogger(AUDIT_LOGGER)

#: the session whose Call or HistoryRead request is being handled (None: a request from
#: inside the server)
SESSION: ContextVar[InternalSession | None] = ContextVar("SESSION", default=None)

_INVALID = ua.StatusCodes.BadSubscriptionIdInvalid
_R = TypeVar("_R")
_T = TypeVar("_T")
_ANONYMOUS = User(role=UserRole.Anonymous)


def owns(session: InternalSession, subscription_id: Any) -> bool:
    """Whether ``subscription_id`` is a subscription of ``session``."""
    sub = session.subscription_service.subscriptions.get(subscription_id)
    return sub is not None and sub.session_id == session.session_id


def _identity(session: InternalSession) -> tuple[str, bytes | None]:
    """Who a session works for, as OPC 10000-4 5.13.7 compares it for a transfer: the user
    name; for an anonymous session also the client certificate of its channel."""
    name = str(getattr(session.user, "name", None) or "anonymous")
    certificate = getattr(session, "twin_channel_certificate", None)
    return name, certificate if name == "anonymous" else None


@dataclass
class _Quotas:
    """One server's quotas, and the closing of sessions it evicted."""

    subscriptions_per_session: int
    sessions_per_user: int
    closing: set[asyncio.Task[None]] = field(default_factory=set)

    def close(self, session: InternalSession) -> None:
        """Close ``session`` (its subscriptions deleted) in a task of its own."""
        task = asyncio.get_running_loop().create_task(session.close_session(True))
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)


class OwnedSession(InternalSession):  # type: ignore[misc]
    """asyncua's session, serving only the subscriptions it owns, within the quotas (see the
    module)."""

    quotas: _Quotas | None = None
    #: the secure channel (a ``security.ChannelGate``) it was last activated on
    channel: Any = None
    #: that channel's connection is gone (asyncua keeps the session for a reconnect)
    orphaned: bool = False

    def attach(self, channel: Any) -> None:
        """Activated on ``channel``."""
        self.channel, self.orphaned = channel, False

    def detach(self, channel: Any) -> None:
        """``channel``'s connection is gone: unless the session moved to another channel
        meanwhile, it is an orphan."""
        if self.channel is channel:
            self.orphaned = True

    def activate_session(
        self, params: ua.ActivateSessionParameters, peer_certificate: bytes | None
    ) -> ua.ActivateSessionResult:
        state, user = self.state, self.user  # type: ignore[has-type]
        result = super().activate_session(params, peer_certificate)
        if self.quotas is None:
            return result
        name = _identity(self)[0]
        others = [
            s
            for s in self.iserver._external_sessions.values()
            if s is not self and s.is_activated() and _identity(s)[0] == name
        ]
        if len(others) < self.quotas.sessions_per_user:
            return result
        orphans = [s for s in others if isinstance(s, OwnedSession) and s.orphaned]
        if orphans:
            oldest = min(orphans, key=lambda s: s._last_activity)
            _audit.info(
                "closed a session of %s whose connection was lost: %d sessions of that user"
                " are open (at most %d)",
                shown_user(name),
                len(others) + 1,
                self.quotas.sessions_per_user,
            )
            self.iserver.unregister_external_session(oldest)  # no longer counted nor resumed
            self.quotas.close(oldest)
            return result
        if state is SessionState.Created:  # undo asyncua's activation
            InternalSession._current_connections -= 1
            self.state = state
        self.user = user
        _audit.warning(
            "session refused: %s from %s: %d sessions of that user are open (at most %d,"
            " Limits.max_sessions_per_user)",
            shown_user(name),
            PEER.get() or "an unknown address",
            len(others),
            self.quotas.sessions_per_user,
        )
        raise ServiceError(ua.StatusCodes.BadTooManySessions)

    def _own(self, subscription_id: Any) -> None:
        if not owns(self, subscription_id):
            raise ServiceError(_INVALID)

    def owned_ids(self) -> set[int]:
        """The ids of this session's subscriptions."""
        subs = self.subscription_service.subscriptions
        return {sid for sid, sub in subs.items() if sub.session_id == self.session_id}

    async def create_subscription(
        self,
        params: ua.CreateSubscriptionParameters,
        callback: Callable[..., Any],
        request_callback: Callable[..., Any] | None = None,
    ) -> ua.CreateSubscriptionResult:
        cap = self.quotas.subscriptions_per_session if self.quotas else None
        if cap is not None and len(self.owned_ids()) >= cap:
            _log.warning(
                "refused a subscription of %s: its session has %d (at most %d,"
                " Limits.max_subscriptions_per_session)",
                shown_user(_identity(self)[0]),
                cap,
                cap,
            )
            raise ServiceError(ua.StatusCodes.BadTooManySubscriptions)
        result = await super().create_subscription(params, callback, request_callback)
        sub = self.subscription_service.subscriptions.get(result.SubscriptionId)
        if sub is not None:
            sub.twin_owner = _identity(self)  # kept when the session is gone: for a transfer
        return result

    def modify_subscription(
        self, params: ua.ModifySubscriptionParameters
    ) -> ua.ModifySubscriptionResult:
        self._own(params.SubscriptionId)
        return super().modify_subscription(params)

    async def create_monitored_items(
        self, params: ua.CreateMonitoredItemsParameters
    ) -> list[ua.MonitoredItemCreateResult]:
        self._own(params.SubscriptionId)
        return await super().create_monitored_items(params)

    async def modify_monitored_items(
        self, params: ua.ModifyMonitoredItemsParameters
    ) -> list[ua.MonitoredItemModifyResult]:
        self._own(params.SubscriptionId)
        return await super().modify_monitored_items(params)

    async def delete_monitored_items(
        self, params: ua.DeleteMonitoredItemsParameters
    ) -> list[ua.StatusCode]:
        self._own(params.SubscriptionId)
        return await super().delete_monitored_items(params)

    async def set_monitoring_mode(
        self, params: ua.SetMonitoringModeParameters
    ) -> list[ua.StatusCode]:
        self._own(params.SubscriptionId)
        return await super().set_monitoring_mode(params)

    def republish(self, params: ua.RepublishParameters) -> ua.NotificationMessage:
        self._own(params.SubscriptionId)
        return super().republish(params)

    async def delete_subscriptions(self, ids: list[int]) -> list[ua.StatusCode]:
        owned = [owns(self, i) for i in ids]
        done = await super().delete_subscriptions(_kept(ids, owned))
        return _merged(owned, done, lambda: ua.StatusCode(_INVALID))

    async def set_publishing_mode(
        self, params: ua.SetPublishingModeParameters
    ) -> list[ua.StatusCode]:
        ids = list(params.SubscriptionIds)
        owned = [owns(self, i) for i in ids]
        params.SubscriptionIds = _kept(ids, owned)
        done = await super().set_publishing_mode(params) if params.SubscriptionIds else []
        return _merged(owned, done, lambda: ua.StatusCode(_INVALID))

    def publish(
        self, acks: Iterable[ua.SubscriptionAcknowledgement] | None = None
    ) -> tuple[int, list[ua.StatusCode]]:
        mine = self.owned_ids()
        if not mine:
            raise ServiceError(ua.StatusCodes.BadNoSubscription)
        acks = list(acks or [])
        owned = [a.SubscriptionId in mine for a in acks]
        _, done = super().publish(_kept(acks, owned))
        # asyncua counts every session's subscriptions (the cap of queued Publish requests)
        return len(mine), _merged(owned, done, lambda: ua.StatusCode(_INVALID))

    async def transfer_subscriptions(  # type: ignore[override]
        self, params: ua.TransferSubscriptionsParameters, callback: Callable[..., Any]
    ) -> list[ua.TransferResult]:
        ids = list(params.SubscriptionIds)
        refusals = [self._transfer_refusal(i) for i in ids]
        allowed = [r is None for r in refusals]
        params.SubscriptionIds = _kept(ids, allowed)
        done = await super().transfer_subscriptions(params, callback)
        subscriptions = self.subscription_service.subscriptions
        for sid in params.SubscriptionIds:
            moved = subscriptions.get(sid)  # deleted by another request meanwhile: gone
            if moved is not None:
                moved.twin_owner = _identity(self)
        refused = iter(r for r in refusals if r is not None)
        return _merged(allowed, done, lambda: ua.TransferResult(ua.StatusCode(next(refused))))

    def _transfer_refusal(self, subscription_id: int) -> int | None:
        sub = self.subscription_service.subscriptions.get(subscription_id)
        if sub is None:
            return _INVALID
        if getattr(sub, "twin_owner", None) != _identity(self):
            _log.warning(
                "refused to transfer subscription %s to a session of %r: it is another user's",
                subscription_id,
                _identity(self)[0],
            )
            return ua.StatusCodes.BadUserAccessDenied
        return None

    async def call(self, params: list[ua.CallMethodRequest]) -> list[ua.CallMethodResult]:
        token = SESSION.set(self)
        try:
            return await super().call(params)
        finally:
            SESSION.reset(token)

    async def history_read(self, params: ua.HistoryReadParameters) -> list[ua.HistoryReadResult]:
        token = SESSION.set(self)  # its continuation points are its own (history_points)
        try:
            return await super().history_read(params)
        finally:
            SESSION.reset(token)


def _kept(items: Sequence[_T], flags: Sequence[bool]) -> list[_T]:
    """The ``items`` whose flag is set."""
    return [item for item, flag in zip(items, flags, strict=True) if flag]


def _merged(owned: Sequence[bool], done: Sequence[_R], refused: Callable[[], _R]) -> list[_R]:
    """The results of a request on several subscriptions: ``done`` for those ``owned``, in
    order, ``refused()`` for the others."""
    results = iter(done)
    return [next(results) if o else refused() for o in owned]


def owned_condition_refresh(refresh: Callable[..., Any]) -> Callable[..., Any]:
    """asyncua's ConditionRefresh(2) method (``subscription_service.condition_refresh``),
    refusing a subscription of another session than the calling one with
    BadSubscriptionIdInvalid."""

    async def owned(parent: ua.NodeId, *args: ua.Variant) -> Any:
        session = SESSION.get()
        if session is not None and not (args and owns(session, args[0].Value)):
            return ua.StatusCode(_INVALID)
        return await refresh(parent, *args)

    return owned


def install(iserver: Any, limits: Limits) -> None:
    """Make ``iserver``'s client sessions ``OwnedSession`` within the quotas of ``limits``,
    and its ConditionRefresh methods check the subscription's owner (before asyncua binds
    them: ``setup_condition_methods`` takes the subscription service's
    ``condition_refresh``)."""
    quotas = _Quotas(limits.max_subscriptions_per_session, limits.max_sessions_per_user)

    def create_session(
        name: str, user: User = _ANONYMOUS, external: bool = False
    ) -> InternalSession:
        session = OwnedSession(
            iserver,
            iserver.aspace,
            iserver.subscription_service,
            name,
            user=user,
            external=external,
        )
        session.quotas = quotas
        return session

    iserver.create_session = create_session
    service = iserver.subscription_service
    service.condition_refresh = owned_condition_refresh(service.condition_refresh)
