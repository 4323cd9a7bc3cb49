"""The error catalogue as exception classes.

Generated from schemas/errors.json by scripts/generate_errors.py; do not edit.
"""

from __future__ import annotations

from typing import ClassVar

from .errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayboundError,
    RefusalError,
    ServerError,
    UnavailableError,
    UpstreamError,
)

CATALOGUE_SOURCE = "schemas/errors.json"


class PayloadTooLarge(InvalidRequestError):
    """The body is larger than the API accepts (128 KiB)."""

    CODE: ClassVar[str | None] = "payload_too_large"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 413
    GRPC_STATUS: ClassVar[str | None] = "RESOURCE_EXHAUSTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The body is larger than the API accepts (128 KiB)."


class UnsupportedMediaType(InvalidRequestError):
    """
    The body is not JSON in UTF-8: its Content-Type is not application/json (or +json), its
    charset is not utf-8, its bytes are not UTF-8, or it has a Content-Encoding.
    """

    CODE: ClassVar[str | None] = "unsupported_media_type"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 415
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = (
        "The body is not JSON in UTF-8: its Content-Type is not application/json (or +json), its "
        "charset is not utf-8, its bytes are not UTF-8, or it has a Content-Encoding."
    )


class InvalidJson(InvalidRequestError):
    """The body is not valid JSON."""

    CODE: ClassVar[str | None] = "invalid_json"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The body is not valid JSON."


class NotFound(NotFoundError):
    """No such route, or no such dashboard file."""

    CODE: ClassVar[str | None] = "not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "No such route, or no such dashboard file."


class Unauthenticated(AuthError):
    """No "Authorization: Bearer <key>" was sent."""

    CODE: ClassVar[str | None] = "unauthenticated"
    KIND: ClassVar[str | None] = "auth"
    HTTP_STATUS: ClassVar[int | None] = 401
    GRPC_STATUS: ClassVar[str | None] = "UNAUTHENTICATED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "No \"Authorization: Bearer <key>\" was sent."


class InvalidApiKey(AuthError):
    """The agent key is unknown or revoked."""

    CODE: ClassVar[str | None] = "invalid_api_key"
    KIND: ClassVar[str | None] = "auth"
    HTTP_STATUS: ClassVar[int | None] = 401
    GRPC_STATUS: ClassVar[str | None] = "UNAUTHENTICATED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The agent key is unknown or revoked."


class Forbidden(AuthError):
    """
    This key may not do this: an agent key on the admin API, an admin key whose scope does not
    allow the route (finance reads, org admins act on their org, only root mints keys), or the
    settlement worker's commands.
    """

    CODE: ClassVar[str | None] = "forbidden"
    KIND: ClassVar[str | None] = "auth"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = (
        "This key may not do this: an agent key on the admin API, an admin key whose scope does "
        "not allow the route (finance reads, org admins act on their org, only root mints keys), "
        "or the settlement worker's commands."
    )


class InvalidRequest(InvalidRequestError):
    """A field of the body, query or headers is missing or wrong; `field` names it."""

    CODE: ClassVar[str | None] = "invalid_request"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "A field of the body, query or headers is missing or wrong; `field` names it."


class InvalidAmount(InvalidRequestError):
    """An amount is not a USD decimal string Paybound can hold; `field` names it."""

    CODE: ClassVar[str | None] = "invalid_amount"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "An amount is not a USD decimal string Paybound can hold; `field` names it."


class InvalidIdempotencyKey(InvalidRequestError):
    """The Idempotency-Key is not 1 to 255 printable ASCII characters."""

    CODE: ClassVar[str | None] = "invalid_idempotency_key"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "The Idempotency-Key is not 1 to 255 printable ASCII characters."


class InvalidIfMatch(InvalidRequestError):
    """If-Match is not an ETag from GET, such as "3"."""

    CODE: ClassVar[str | None] = "invalid_if_match"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "If-Match is not an ETag from GET, such as \"3\"."


class PreconditionRequired(InvalidRequestError):
    """This change needs If-Match: the ETag from GET (or * to replace whatever is there)."""

    CODE: ClassVar[str | None] = "precondition_required"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 428
    GRPC_STATUS: ClassVar[str | None] = "FAILED_PRECONDITION"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = (
        "This change needs If-Match: the ETag from GET (or * to replace whatever is there)."
    )


class DestinationNotAllowed(InvalidRequestError):
    """
    The URL is a loopback, private or link-local address, which this deployment does not call
    (PAYBOUND_FETCH_PRIVATE_ADDRESSES).
    """

    CODE: ClassVar[str | None] = "destination_not_allowed"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("field", "paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The URL is a loopback, private or link-local address, which this deployment does not "
        "call (PAYBOUND_FETCH_PRIVATE_ADDRESSES)."
    )


class OrgNotFound(NotFoundError):
    """No such org."""

    CODE: ClassVar[str | None] = "org_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "No such org."


class TeamNotFound(NotFoundError):
    """No such team in this org."""

    CODE: ClassVar[str | None] = "team_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "No such team in this org."


class AgentNotFound(NotFoundError):
    """No such agent in this org."""

    CODE: ClassVar[str | None] = "agent_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "No such agent in this org."


class SessionNotFound(NotFoundError):
    """No such session, or not this agent's."""

    CODE: ClassVar[str | None] = "session_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "No such session, or not this agent's."


class PaymentNotFound(NotFoundError):
    """No such payment, or not this agent's."""

    CODE: ClassVar[str | None] = "payment_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "No such payment, or not this agent's."


class WebhookEndpointNotFound(NotFoundError):
    """No such webhook endpoint."""

    CODE: ClassVar[str | None] = "webhook_endpoint_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "No such webhook endpoint."


class ShadowPolicyNotFound(NotFoundError):
    """The level has no shadow policy to promote."""

    CODE: ClassVar[str | None] = "shadow_policy_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The level has no shadow policy to promote."


class WebhookDeliveryNotFound(NotFoundError):
    """No such delivery of this webhook endpoint."""

    CODE: ClassVar[str | None] = "webhook_delivery_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "No such delivery of this webhook endpoint."


class AdminKeyNotFound(NotFoundError):
    """No admin key of this name, or it is already revoked."""

    CODE: ClassVar[str | None] = "admin_key_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "No admin key of this name, or it is already revoked."


class McpServerNotFound(NotFoundError):
    """No such upstream MCP server, or not one this agent's org may use."""

    CODE: ClassVar[str | None] = "mcp_server_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "No such upstream MCP server, or not one this agent's org may use."


class McpToolNotFound(NotFoundError):
    """The upstream MCP server lists no such tool, or its admin did not allow it."""

    CODE: ClassVar[str | None] = "mcp_tool_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "The upstream MCP server lists no such tool, or its admin did not allow it."


class BadPaymentOffer(UpstreamError):
    """
    The seller's 402 is malformed, hostile or oversized, or offers nothing this deployment can
    pay (a scheme, network or asset it has no signer for, an expired or body-bound MPP
    challenge, splits); nothing was reserved or signed. `reason` is the refusal of the option
    that came closest to being paid; `options` lists every option with its reason.
    """

    CODE: ClassVar[str | None] = "bad_payment_offer"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 502
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("reason", "options",)
    DESCRIPTION: ClassVar[str] = (
        "The seller's 402 is malformed, hostile or oversized, or offers nothing this deployment "
        "can pay (a scheme, network or asset it has no signer for, an expired or body-bound MPP "
        "challenge, splits); nothing was reserved or signed. `reason` is the refusal of the "
        "option that came closest to being paid; `options` lists every option with its reason."
    )


class Overloaded(UnavailableError):
    """Too many budget decisions are waiting; retry shortly."""

    CODE: ClassVar[str | None] = "overloaded"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 503
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("scope",)
    DESCRIPTION: ClassVar[str] = "Too many budget decisions are waiting; retry shortly."


class ProjectionStalled(UnavailableError):
    """
    The org's read model stopped at an event it cannot apply; operators are alerted and it
    resumes by itself once fixed.
    """

    CODE: ClassVar[str | None] = "projection_stalled"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 503
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("streamVersion", "eventType", "retryAt",)
    DESCRIPTION: ClassVar[str] = (
        "The org's read model stopped at an event it cannot apply; operators are alerted and it "
        "resumes by itself once fixed."
    )


class IdempotencyKeyReused(ConflictError):
    """This Idempotency-Key was used with a different request."""

    CODE: ClassVar[str | None] = "idempotency_key_reused"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 422
    GRPC_STATUS: ClassVar[str | None] = "FAILED_PRECONDITION"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "This Idempotency-Key was used with a different request."


class OrgAlreadyExists(ConflictError):
    """An org with this id exists."""

    CODE: ClassVar[str | None] = "org_already_exists"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "An org with this id exists."


class TeamAlreadyExists(ConflictError):
    """A team with this id exists in this org."""

    CODE: ClassVar[str | None] = "team_already_exists"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A team with this id exists in this org."


class AgentAlreadyExists(ConflictError):
    """An agent with this id exists in this org."""

    CODE: ClassVar[str | None] = "agent_already_exists"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "An agent with this id exists in this org."


class SessionAlreadyExists(ConflictError):
    """A session with this id exists."""

    CODE: ClassVar[str | None] = "session_already_exists"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A session with this id exists."


class TooManyOpenSessions(UnavailableError):
    """
    The agent has as many open sessions as allowed (PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT); close
    one, or wait for one to expire.
    """

    CODE: ClassVar[str | None] = "too_many_open_sessions"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 429
    GRPC_STATUS: ClassVar[str | None] = "RESOURCE_EXHAUSTED"
    FIGURES: ClassVar[tuple[str, ...]] = ("limit", "open",)
    DESCRIPTION: ClassVar[str] = (
        "The agent has as many open sessions as allowed (PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT); "
        "close one, or wait for one to expire."
    )


class PolicyVersionMismatch(ConflictError):
    """
    The policy changed since the If-Match version; `current` is the policy now, `etag` its ETag,
    and `changedBy`/`changedAt` who changed it last and when.
    """

    CODE: ClassVar[str | None] = "policy_version_mismatch"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 412
    GRPC_STATUS: ClassVar[str | None] = "FAILED_PRECONDITION"
    FIGURES: ClassVar[tuple[str, ...]] = ("current", "etag", "changedBy", "changedAt",)
    DESCRIPTION: ClassVar[str] = (
        "The policy changed since the If-Match version; `current` is the policy now, `etag` its "
        "ETag, and `changedBy`/`changedAt` who changed it last and when."
    )


class IntentConflict(ConflictError):
    """A payment with this id exists."""

    CODE: ClassVar[str | None] = "intent_conflict"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A payment with this id exists."


class InvalidCommand(InvalidRequestError):
    """
    The command cannot apply as given (a limit or amount out of range, a payment in the wrong
    state).
    """

    CODE: ClassVar[str | None] = "invalid_command"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = (
        "The command cannot apply as given (a limit or amount out of range, a payment in the "
        "wrong state)."
    )


class AgentFrozen(RefusalError):
    """
    An admin froze the agent, its team or its org: no new payments or sessions until unfrozen
    (payments in flight finish); `level` names the frozen level.
    """

    CODE: ClassVar[str | None] = "agent_frozen"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "An admin froze the agent, its team or its org: no new payments or sessions until "
        "unfrozen (payments in flight finish); `level` names the frozen level."
    )


class SessionClosed(RefusalError):
    """The session is closed to new payments."""

    CODE: ClassVar[str | None] = "session_closed"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The session is closed to new payments."


class SessionExpired(RefusalError):
    """The session has expired."""

    CODE: ClassVar[str | None] = "session_expired"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The session has expired."


class SessionLimitExceeded(RefusalError):
    """The session's limit (amount or number of payments) does not cover this payment."""

    CODE: ClassVar[str | None] = "session_limit_exceeded"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The session's limit (amount or number of payments) does not cover this payment."
    )


class DomainNotAllowed(RefusalError):
    """A policy denies the resource's domain."""

    CODE: ClassVar[str | None] = "domain_not_allowed"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "A policy denies the resource's domain."


class NetworkNotAllowed(RefusalError):
    """A policy, or this deployment, does not pay on the offer's network."""

    CODE: ClassVar[str | None] = "network_not_allowed"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "A policy, or this deployment, does not pay on the offer's network."


class AssetNotAllowed(RefusalError):
    """A policy, or this deployment, does not pay in the offer's asset."""

    CODE: ClassVar[str | None] = "asset_not_allowed"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "A policy, or this deployment, does not pay in the offer's asset."


class PayeeNotAllowed(RefusalError):
    """A policy denies the payee."""

    CODE: ClassVar[str | None] = "payee_not_allowed"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "A policy denies the payee."


class PriceAboveMax(RefusalError):
    """The price is above the maximum per payment, or above the request's maxPrice."""

    CODE: ClassVar[str | None] = "price_above_max"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The price is above the maximum per payment, or above the request's maxPrice."


class LoopDetected(RefusalError):
    """The loop guard: too many payments for the same method and URL within the window."""

    CODE: ClassVar[str | None] = "loop_detected"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The loop guard: too many payments for the same method and URL within the window."
    )


class RateLimited(RefusalError):
    """Too many payments per minute for the agent or the session."""

    CODE: ClassVar[str | None] = "rate_limited"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "Too many payments per minute for the agent or the session."


class AgentLimitExceeded(RefusalError):
    """The agent's budget does not cover this payment."""

    CODE: ClassVar[str | None] = "agent_limit_exceeded"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The agent's budget does not cover this payment."


class TeamLimitExceeded(RefusalError):
    """The team's budget does not cover this payment."""

    CODE: ClassVar[str | None] = "team_limit_exceeded"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The team's budget does not cover this payment."


class OrgLimitExceeded(RefusalError):
    """The org's budget does not cover this payment."""

    CODE: ClassVar[str | None] = "org_limit_exceeded"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The org's budget does not cover this payment."


class WalletInsufficientFunds(RefusalError):
    """The paying wallet does not hold enough of the asset."""

    CODE: ClassVar[str | None] = "wallet_insufficient_funds"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The paying wallet does not hold enough of the asset."


class Permit2AllowanceMissing(RefusalError):
    """
    The paying wallet has not allowed Permit2 to move enough of this asset; an admin grants a
    bounded allowance first.
    """

    CODE: ClassVar[str | None] = "permit2_allowance_missing"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The paying wallet has not allowed Permit2 to move enough of this asset; an admin grants "
        "a bounded allowance first."
    )


class ApprovalRequired(RefusalError):
    """The payment needed an admin's approval, which was denied or timed out."""

    CODE: ClassVar[str | None] = "approval_required"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The payment needed an admin's approval, which was denied or timed out."


class ApprovalAlreadyDecided(ConflictError):
    """The payment is not waiting for approval (any more)."""

    CODE: ClassVar[str | None] = "approval_already_decided"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The payment is not waiting for approval (any more)."


class PaymentAlreadySigned(ConflictError):
    """The payment already has an authorization."""

    CODE: ClassVar[str | None] = "payment_already_signed"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The payment already has an authorization."


class PaymentNotSigned(UnavailableError):
    """
    The payment has no signature: the settlement worker refused or did not sign it in time
    (nothing was paid), or it was reported or settled before it was signed.
    """

    CODE: ClassVar[str | None] = "payment_not_signed"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 503
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId", "reason",)
    DESCRIPTION: ClassVar[str] = (
        "The payment has no signature: the settlement worker refused or did not sign it in time "
        "(nothing was paid), or it was reported or settled before it was signed."
    )


class PaymentNotSent(UnavailableError):
    """
    The payment was signed too late to be sent: nothing went to the seller, and its hold is
    released once the authorization expires unused at `validBefore`.
    """

    CODE: ClassVar[str | None] = "payment_not_sent"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 503
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId", "paymentStatus", "validBefore",)
    DESCRIPTION: ClassVar[str] = (
        "The payment was signed too late to be sent: nothing went to the seller, and its hold is "
        "released once the authorization expires unused at `validBefore`."
    )


class PaymentAlreadyUsed(ConflictError):
    """
    A pay-and-fetch retried with the same Idempotency-Key went ahead before, and its first
    answer was not kept (still under way, cut off, or larger than the 1 MiB kept);
    `paymentStatus` says how the payment stands.
    """

    CODE: ClassVar[str | None] = "payment_already_used"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId", "paymentStatus",)
    DESCRIPTION: ClassVar[str] = (
        "A pay-and-fetch retried with the same Idempotency-Key went ahead before, and its first "
        "answer was not kept (still under way, cut off, or larger than the 1 MiB kept); "
        "`paymentStatus` says how the payment stands."
    )


class IntentAlreadySettled(ConflictError):
    """The payment was already settled."""

    CODE: ClassVar[str | None] = "intent_already_settled"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The payment was already settled."


class IntentAlreadyRefunded(ConflictError):
    """The payment was already refunded."""

    CODE: ClassVar[str | None] = "intent_already_refunded"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The payment was already refunded."


class SettleExceedsReserved(ConflictError):
    """A settlement above the amount reserved."""

    CODE: ClassVar[str | None] = "settle_exceeds_reserved"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 422
    GRPC_STATUS: ClassVar[str | None] = "FAILED_PRECONDITION"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A settlement above the amount reserved."


class ReleaseNotProven(ConflictError):
    """A signed payment is released only once its authorization expired unused."""

    CODE: ClassVar[str | None] = "release_not_proven"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A signed payment is released only once its authorization expired unused."


class WebhookEndpointsLimitReached(ConflictError):
    """As many webhook endpoints as allowed exist; delete one first."""

    CODE: ClassVar[str | None] = "webhook_endpoints_limit_reached"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ("limit",)
    DESCRIPTION: ClassVar[str] = "As many webhook endpoints as allowed exist; delete one first."


class WebhookEndpointDisabled(ConflictError):
    """The webhook endpoint is disabled; enable it first."""

    CODE: ClassVar[str | None] = "webhook_endpoint_disabled"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The webhook endpoint is disabled; enable it first."


class WebhookDeliveryAlreadyDelivered(ConflictError):
    """The delivery was delivered; it is not sent again."""

    CODE: ClassVar[str | None] = "webhook_delivery_already_delivered"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The delivery was delivered; it is not sent again."


class AdminKeyAlreadyExists(ConflictError):
    """
    An admin key of this name exists or existed; names are never reused, so the audit trail
    stays unambiguous.
    """

    CODE: ClassVar[str | None] = "admin_key_already_exists"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = (
        "An admin key of this name exists or existed; names are never reused, so the audit trail "
        "stays unambiguous."
    )


class McpServerAlreadyRegistered(ConflictError):
    """An upstream MCP server with this name is registered."""

    CODE: ClassVar[str | None] = "mcp_server_already_registered"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "An upstream MCP server with this name is registered."


class UpstreamUnreachable(UpstreamError):
    """
    The connection to the seller failed; with `paymentId`, the payment was sent and is
    reconciled on chain.
    """

    CODE: ClassVar[str | None] = "upstream_unreachable"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 502
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The connection to the seller failed; with `paymentId`, the payment was sent and is "
        "reconciled on chain."
    )


class UpstreamBadResponse(UpstreamError):
    """
    The seller's answer is not valid HTTP (a malformed status line, headers or framing); with
    `paymentId`, the payment was sent and is reconciled on chain.
    """

    CODE: ClassVar[str | None] = "upstream_bad_response"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 502
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The seller's answer is not valid HTTP (a malformed status line, headers or framing); "
        "with `paymentId`, the payment was sent and is reconciled on chain."
    )


class UpstreamTimeout(UpstreamError):
    """
    The seller did not answer in time; with `paymentId`, the payment was sent and is reconciled
    on chain.
    """

    CODE: ClassVar[str | None] = "upstream_timeout"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 504
    GRPC_STATUS: ClassVar[str | None] = "DEADLINE_EXCEEDED"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The seller did not answer in time; with `paymentId`, the payment was sent and is "
        "reconciled on chain."
    )


class UpstreamResponseTooLarge(UpstreamError):
    """The seller's answer is larger than Paybound passes on (headers 64 KiB, body 5 MiB)."""

    CODE: ClassVar[str | None] = "upstream_response_too_large"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 502
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The seller's answer is larger than Paybound passes on (headers 64 KiB, body 5 MiB)."
    )


class McpUpstreamProtocolError(UpstreamError):
    """
    The upstream MCP server did not answer as an MCP server should (handshake, framing,
    listing); with `paymentId`, the payment was sent and is reconciled on chain.
    """

    CODE: ClassVar[str | None] = "mcp_upstream_protocol_error"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 502
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The upstream MCP server did not answer as an MCP server should (handshake, framing, "
        "listing); with `paymentId`, the payment was sent and is reconciled on chain."
    )


class BadToolResult(UpstreamError):
    """
    The upstream MCP tool's result cannot be passed on (its shape, size or depth); with
    `paymentId`, the payment was sent and is reconciled on chain.
    """

    CODE: ClassVar[str | None] = "bad_tool_result"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 502
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The upstream MCP tool's result cannot be passed on (its shape, size or depth); with "
        "`paymentId`, the payment was sent and is reconciled on chain."
    )


class UpstreamPaymentRejected(UpstreamError):
    """
    The upstream asked for payment again after it was sent one (its verification or settlement
    failed); the payment is never signed twice and is reconciled on chain.
    """

    CODE: ClassVar[str | None] = "upstream_payment_rejected"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 502
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId", "reason",)
    DESCRIPTION: ClassVar[str] = (
        "The upstream asked for payment again after it was sent one (its verification or "
        "settlement failed); the payment is never signed twice and is reconciled on chain."
    )


class TooManyStreams(UnavailableError):
    """Too many event streams are open on this governor; close one or retry later."""

    CODE: ClassVar[str | None] = "too_many_streams"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 503
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "Too many event streams are open on this governor; close one or retry later."


class TooManyWatchers(UnavailableError):
    """Too many sessions are watched over gRPC on this governor; retry later."""

    CODE: ClassVar[str | None] = "too_many_watchers"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 429
    GRPC_STATUS: ClassVar[str | None] = "RESOURCE_EXHAUSTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "Too many sessions are watched over gRPC on this governor; retry later."


class NotReady(UnavailableError):
    """The database is not reachable; nothing can be decided."""

    CODE: ClassVar[str | None] = "not_ready"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 503
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The database is not reachable; nothing can be decided."


class Unavailable(UnavailableError):
    """
    The database did not answer in time or refused the connection; retry after Retry-After (with
    the same Idempotency-Key: a change may have been made).
    """

    CODE: ClassVar[str | None] = "unavailable"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 503
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = (
        "The database did not answer in time or refused the connection; retry after Retry-After "
        "(with the same Idempotency-Key: a change may have been made)."
    )


class DashboardMissing(ServerError):
    """A dashboard file is missing from the installation."""

    CODE: ClassVar[str | None] = "dashboard_missing"
    KIND: ClassVar[str | None] = "internal"
    HTTP_STATUS: ClassVar[int | None] = 500
    GRPC_STATUS: ClassVar[str | None] = "INTERNAL"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A dashboard file is missing from the installation."


class InternalError(ServerError):
    """The request failed; it is safe to retry with the same Idempotency-Key."""

    CODE: ClassVar[str | None] = "internal_error"
    KIND: ClassVar[str | None] = "internal"
    HTTP_STATUS: ClassVar[int | None] = 500
    GRPC_STATUS: ClassVar[str | None] = "INTERNAL"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The request failed; it is safe to retry with the same Idempotency-Key."


#: Every code in precedence order: when several apply, Paybound reports the first.
PRECEDENCE: tuple[str, ...] = (
    "payload_too_large",
    "unsupported_media_type",
    "invalid_json",
    "not_found",
    "unauthenticated",
    "invalid_api_key",
    "forbidden",
    "invalid_request",
    "invalid_amount",
    "invalid_idempotency_key",
    "invalid_if_match",
    "precondition_required",
    "destination_not_allowed",
    "org_not_found",
    "team_not_found",
    "agent_not_found",
    "session_not_found",
    "payment_not_found",
    "webhook_endpoint_not_found",
    "shadow_policy_not_found",
    "webhook_delivery_not_found",
    "admin_key_not_found",
    "mcp_server_not_found",
    "mcp_tool_not_found",
    "bad_payment_offer",
    "overloaded",
    "projection_stalled",
    "idempotency_key_reused",
    "org_already_exists",
    "team_already_exists",
    "agent_already_exists",
    "session_already_exists",
    "too_many_open_sessions",
    "policy_version_mismatch",
    "intent_conflict",
    "invalid_command",
    "agent_frozen",
    "session_closed",
    "session_expired",
    "session_limit_exceeded",
    "domain_not_allowed",
    "network_not_allowed",
    "asset_not_allowed",
    "payee_not_allowed",
    "price_above_max",
    "loop_detected",
    "rate_limited",
    "agent_limit_exceeded",
    "team_limit_exceeded",
    "org_limit_exceeded",
    "wallet_insufficient_funds",
    "permit2_allowance_missing",
    "approval_required",
    "approval_already_decided",
    "payment_already_signed",
    "payment_not_signed",
    "payment_not_sent",
    "payment_already_used",
    "intent_already_settled",
    "intent_already_refunded",
    "settle_exceeds_reserved",
    "release_not_proven",
    "webhook_endpoints_limit_reached",
    "webhook_endpoint_disabled",
    "webhook_delivery_already_delivered",
    "admin_key_already_exists",
    "mcp_server_already_registered",
    "upstream_unreachable",
    "upstream_bad_response",
    "upstream_timeout",
    "upstream_response_too_large",
    "mcp_upstream_protocol_error",
    "bad_tool_result",
    "upstream_payment_rejected",
    "too_many_streams",
    "too_many_watchers",
    "not_ready",
    "unavailable",
    "dashboard_missing",
    "internal_error",
)

#: The class raised for each code.
ERRORS_BY_CODE: dict[str, type[PayboundError]] = {
    "payload_too_large": PayloadTooLarge,
    "unsupported_media_type": UnsupportedMediaType,
    "invalid_json": InvalidJson,
    "not_found": NotFound,
    "unauthenticated": Unauthenticated,
    "invalid_api_key": InvalidApiKey,
    "forbidden": Forbidden,
    "invalid_request": InvalidRequest,
    "invalid_amount": InvalidAmount,
    "invalid_idempotency_key": InvalidIdempotencyKey,
    "invalid_if_match": InvalidIfMatch,
    "precondition_required": PreconditionRequired,
    "destination_not_allowed": DestinationNotAllowed,
    "org_not_found": OrgNotFound,
    "team_not_found": TeamNotFound,
    "agent_not_found": AgentNotFound,
    "session_not_found": SessionNotFound,
    "payment_not_found": PaymentNotFound,
    "webhook_endpoint_not_found": WebhookEndpointNotFound,
    "shadow_policy_not_found": ShadowPolicyNotFound,
    "webhook_delivery_not_found": WebhookDeliveryNotFound,
    "admin_key_not_found": AdminKeyNotFound,
    "mcp_server_not_found": McpServerNotFound,
    "mcp_tool_not_found": McpToolNotFound,
    "bad_payment_offer": BadPaymentOffer,
    "overloaded": Overloaded,
    "projection_stalled": ProjectionStalled,
    "idempotency_key_reused": IdempotencyKeyReused,
    "org_already_exists": OrgAlreadyExists,
    "team_already_exists": TeamAlreadyExists,
    "agent_already_exists": AgentAlreadyExists,
    "session_already_exists": SessionAlreadyExists,
    "too_many_open_sessions": TooManyOpenSessions,
    "policy_version_mismatch": PolicyVersionMismatch,
    "intent_conflict": IntentConflict,
    "invalid_command": InvalidCommand,
    "agent_frozen": AgentFrozen,
    "session_closed": SessionClosed,
    "session_expired": SessionExpired,
    "session_limit_exceeded": SessionLimitExceeded,
    "domain_not_allowed": DomainNotAllowed,
    "network_not_allowed": NetworkNotAllowed,
    "asset_not_allowed": AssetNotAllowed,
    "payee_not_allowed": PayeeNotAllowed,
    "price_above_max": PriceAboveMax,
    "loop_detected": LoopDetected,
    "rate_limited": RateLimited,
    "agent_limit_exceeded": AgentLimitExceeded,
    "team_limit_exceeded": TeamLimitExceeded,
    "org_limit_exceeded": OrgLimitExceeded,
    "wallet_insufficient_funds": WalletInsufficientFunds,
    "permit2_allowance_missing": Permit2AllowanceMissing,
    "approval_required": ApprovalRequired,
    "approval_already_decided": ApprovalAlreadyDecided,
    "payment_already_signed": PaymentAlreadySigned,
    "payment_not_signed": PaymentNotSigned,
    "payment_not_sent": PaymentNotSent,
    "payment_already_used": PaymentAlreadyUsed,
    "intent_already_settled": IntentAlreadySettled,
    "intent_already_refunded": IntentAlreadyRefunded,
    "settle_exceeds_reserved": SettleExceedsReserved,
    "release_not_proven": ReleaseNotProven,
    "webhook_endpoints_limit_reached": WebhookEndpointsLimitReached,
    "webhook_endpoint_disabled": WebhookEndpointDisabled,
    "webhook_delivery_already_delivered": WebhookDeliveryAlreadyDelivered,
    "admin_key_already_exists": AdminKeyAlreadyExists,
    "mcp_server_already_registered": McpServerAlreadyRegistered,
    "upstream_unreachable": UpstreamUnreachable,
    "upstream_bad_response": UpstreamBadResponse,
    "upstream_timeout": UpstreamTimeout,
    "upstream_response_too_large": UpstreamResponseTooLarge,
    "mcp_upstream_protocol_error": McpUpstreamProtocolError,
    "bad_tool_result": BadToolResult,
    "upstream_payment_rejected": UpstreamPaymentRejected,
    "too_many_streams": TooManyStreams,
    "too_many_watchers": TooManyWatchers,
    "not_ready": NotReady,
    "unavailable": Unavailable,
    "dashboard_missing": DashboardMissing,
    "internal_error": InternalError,
}

__all__ = [
    "CATALOGUE_SOURCE",
    "ERRORS_BY_CODE",
    "PRECEDENCE",
    "AdminKeyAlreadyExists",
    "AdminKeyNotFound",
    "AgentAlreadyExists",
    "AgentFrozen",
    "AgentLimitExceeded",
    "AgentNotFound",
    "ApprovalAlreadyDecided",
    "ApprovalRequired",
    "AssetNotAllowed",
    "BadPaymentOffer",
    "BadToolResult",
    "DashboardMissing",
    "DestinationNotAllowed",
    "DomainNotAllowed",
    "Forbidden",
    "IdempotencyKeyReused",
    "IntentAlreadyRefunded",
    "IntentAlreadySettled",
    "IntentConflict",
    "InternalError",
    "InvalidAmount",
    "InvalidApiKey",
    "InvalidCommand",
    "InvalidIdempotencyKey",
    "InvalidIfMatch",
    "InvalidJson",
    "InvalidRequest",
    "LoopDetected",
    "McpServerAlreadyRegistered",
    "McpServerNotFound",
    "McpToolNotFound",
    "McpUpstreamProtocolError",
    "NetworkNotAllowed",
    "NotFound",
    "NotReady",
    "OrgAlreadyExists",
    "OrgLimitExceeded",
    "OrgNotFound",
    "Overloaded",
    "PayeeNotAllowed",
    "PayloadTooLarge",
    "PaymentAlreadySigned",
    "PaymentAlreadyUsed",
    "PaymentNotFound",
    "PaymentNotSent",
    "PaymentNotSigned",
    "Permit2AllowanceMissing",
    "PolicyVersionMismatch",
    "PreconditionRequired",
    "PriceAboveMax",
    "ProjectionStalled",
    "RateLimited",
    "ReleaseNotProven",
    "SessionAlreadyExists",
    "SessionClosed",
    "SessionExpired",
    "SessionLimitExceeded",
    "SessionNotFound",
    "SettleExceedsReserved",
    "ShadowPolicyNotFound",
    "TeamAlreadyExists",
    "TeamLimitExceeded",
    "TeamNotFound",
    "TooManyOpenSessions",
    "TooManyStreams",
    "TooManyWatchers",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
    "UpstreamBadResponse",
    "UpstreamPaymentRejected",
    "UpstreamResponseTooLarge",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "WalletInsufficientFunds",
    "WebhookDeliveryAlreadyDelivered",
    "WebhookDeliveryNotFound",
    "WebhookEndpointDisabled",
    "WebhookEndpointNotFound",
    "WebhookEndpointsLimitReached",
]
