"""The error catalogue as exception classes.

Generated from clients/python/tests/fixtures/errors.json by scripts/generate_errors.py; do not edit.
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

CATALOGUE_SOURCE = "clients/python/tests/fixtures/errors.json"


class Unauthenticated(AuthError):
    """The request carries no key (Authorization: Bearer <key>)."""

    CODE: ClassVar[str | None] = "unauthenticated"
    KIND: ClassVar[str | None] = "auth"
    HTTP_STATUS: ClassVar[int | None] = 401
    GRPC_STATUS: ClassVar[str | None] = "UNAUTHENTICATED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The request carries no key (Authorization: Bearer <key>)."


class InvalidApiKey(AuthError):
    """The key is unknown or revoked."""

    CODE: ClassVar[str | None] = "invalid_api_key"
    KIND: ClassVar[str | None] = "auth"
    HTTP_STATUS: ClassVar[int | None] = 401
    GRPC_STATUS: ClassVar[str | None] = "UNAUTHENTICATED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The key is unknown or revoked."


class Forbidden(AuthError):
    """This key cannot use this API (an agent key on the admin API, or the reverse)."""

    CODE: ClassVar[str | None] = "forbidden"
    KIND: ClassVar[str | None] = "auth"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = (
        "This key cannot use this API (an agent key on the admin API, or the reverse)."
    )


class InvalidJson(InvalidRequestError):
    """The body is not JSON."""

    CODE: ClassVar[str | None] = "invalid_json"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The body is not JSON."


class PayloadTooLarge(InvalidRequestError):
    """The body is larger than the governor accepts."""

    CODE: ClassVar[str | None] = "payload_too_large"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 413
    GRPC_STATUS: ClassVar[str | None] = "RESOURCE_EXHAUSTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The body is larger than the governor accepts."


class InvalidRequest(InvalidRequestError):
    """An input is missing or wrong; `field` names it."""

    CODE: ClassVar[str | None] = "invalid_request"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "An input is missing or wrong; `field` names it."


class InvalidAmount(InvalidRequestError):
    """A USD amount is not a decimal string Paybound can hold."""

    CODE: ClassVar[str | None] = "invalid_amount"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "A USD amount is not a decimal string Paybound can hold."


class InvalidIdempotencyKey(InvalidRequestError):
    """Idempotency-Key must be 1 to 255 printable ASCII characters."""

    CODE: ClassVar[str | None] = "invalid_idempotency_key"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "Idempotency-Key must be 1 to 255 printable ASCII characters."


class InvalidIfMatch(InvalidRequestError):
    """If-Match must be an ETag from GET."""

    CODE: ClassVar[str | None] = "invalid_if_match"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "If-Match must be an ETag from GET."


class InvalidCommand(InvalidRequestError):
    """The command cannot be carried out as given."""

    CODE: ClassVar[str | None] = "invalid_command"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 400
    GRPC_STATUS: ClassVar[str | None] = "INVALID_ARGUMENT"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The command cannot be carried out as given."


class DestinationNotAllowed(InvalidRequestError):
    """
    The URL resolves to a loopback, private or link-local address; nothing was reserved (400
    when registering a webhook).
    """

    CODE: ClassVar[str | None] = "destination_not_allowed"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("field", "paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The URL resolves to a loopback, private or link-local address; nothing was reserved (400"
        " when registering a webhook)."
    )


class IdempotencyKeyReused(InvalidRequestError):
    """The Idempotency-Key was used before with another request."""

    CODE: ClassVar[str | None] = "idempotency_key_reused"
    KIND: ClassVar[str | None] = "invalid_request"
    HTTP_STATUS: ClassVar[int | None] = 422
    GRPC_STATUS: ClassVar[str | None] = "FAILED_PRECONDITION"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The Idempotency-Key was used before with another request."


class NotFound(NotFoundError):
    """No such route or file."""

    CODE: ClassVar[str | None] = "not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "No such route or file."


class OrgNotFound(NotFoundError):
    """The org does not exist."""

    CODE: ClassVar[str | None] = "org_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ("field",)
    DESCRIPTION: ClassVar[str] = "The org does not exist."


class TeamNotFound(NotFoundError):
    """The team does not exist."""

    CODE: ClassVar[str | None] = "team_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The team does not exist."


class AgentNotFound(NotFoundError):
    """The agent does not exist."""

    CODE: ClassVar[str | None] = "agent_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The agent does not exist."


class SessionNotFound(NotFoundError):
    """The session does not exist, or is not this agent's."""

    CODE: ClassVar[str | None] = "session_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The session does not exist, or is not this agent's."


class PaymentNotFound(NotFoundError):
    """The payment does not exist, or is not this agent's."""

    CODE: ClassVar[str | None] = "payment_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The payment does not exist, or is not this agent's."


class WebhookEndpointNotFound(NotFoundError):
    """The webhook endpoint does not exist."""

    CODE: ClassVar[str | None] = "webhook_endpoint_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The webhook endpoint does not exist."


class WebhookDeliveryNotFound(NotFoundError):
    """The webhook delivery does not exist."""

    CODE: ClassVar[str | None] = "webhook_delivery_not_found"
    KIND: ClassVar[str | None] = "not_found"
    HTTP_STATUS: ClassVar[int | None] = 404
    GRPC_STATUS: ClassVar[str | None] = "NOT_FOUND"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The webhook delivery does not exist."


class PolicyVersionMismatch(ConflictError):
    """Someone else changed the policy first (a stale If-Match)."""

    CODE: ClassVar[str | None] = "policy_version_mismatch"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 412
    GRPC_STATUS: ClassVar[str | None] = "FAILED_PRECONDITION"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "Someone else changed the policy first (a stale If-Match)."


class OrgAlreadyExists(ConflictError):
    """An org with this id exists."""

    CODE: ClassVar[str | None] = "org_already_exists"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "An org with this id exists."


class TeamAlreadyExists(ConflictError):
    """A team with this id exists."""

    CODE: ClassVar[str | None] = "team_already_exists"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A team with this id exists."


class AgentAlreadyExists(ConflictError):
    """An agent with this id exists."""

    CODE: ClassVar[str | None] = "agent_already_exists"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "An agent with this id exists."


class SessionAlreadyExists(ConflictError):
    """A session with this id exists."""

    CODE: ClassVar[str | None] = "session_already_exists"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A session with this id exists."


class IntentConflict(ConflictError):
    """A payment intent with this id exists with other facts."""

    CODE: ClassVar[str | None] = "intent_conflict"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A payment intent with this id exists with other facts."


class PaymentAlreadyUsed(ConflictError):
    """
    A pay-and-fetch retried with its Idempotency-Key already went ahead; the payment says how it
    went.
    """

    CODE: ClassVar[str | None] = "payment_already_used"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId", "status",)
    DESCRIPTION: ClassVar[str] = (
        "A pay-and-fetch retried with its Idempotency-Key already went ahead; the payment says "
        "how it went."
    )


class ApprovalAlreadyDecided(ConflictError):
    """The approval was already granted or denied."""

    CODE: ClassVar[str | None] = "approval_already_decided"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The approval was already granted or denied."


class IntentAlreadySettled(ConflictError):
    """The payment is already settled."""

    CODE: ClassVar[str | None] = "intent_already_settled"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The payment is already settled."


class IntentAlreadyRefunded(ConflictError):
    """The payment is already refunded."""

    CODE: ClassVar[str | None] = "intent_already_refunded"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The payment is already refunded."


class PaymentAlreadySigned(ConflictError):
    """The payment is already signed."""

    CODE: ClassVar[str | None] = "payment_already_signed"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The payment is already signed."


class ReleaseNotProven(ConflictError):
    """The hold cannot be released: the authorization may still execute."""

    CODE: ClassVar[str | None] = "release_not_proven"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The hold cannot be released: the authorization may still execute."


class SettleExceedsReserved(ConflictError):
    """A settlement larger than what was reserved."""

    CODE: ClassVar[str | None] = "settle_exceeds_reserved"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 422
    GRPC_STATUS: ClassVar[str | None] = "FAILED_PRECONDITION"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A settlement larger than what was reserved."


class WebhookEndpointsLimitReached(ConflictError):
    """At most this many webhook endpoints exist at once."""

    CODE: ClassVar[str | None] = "webhook_endpoints_limit_reached"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ("limit",)
    DESCRIPTION: ClassVar[str] = "At most this many webhook endpoints exist at once."


class WebhookDeliveryAlreadyDelivered(ConflictError):
    """The delivery was delivered already."""

    CODE: ClassVar[str | None] = "webhook_delivery_already_delivered"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The delivery was delivered already."


class WebhookEndpointDisabled(ConflictError):
    """The endpoint is disabled; enable it first."""

    CODE: ClassVar[str | None] = "webhook_endpoint_disabled"
    KIND: ClassVar[str | None] = "conflict"
    HTTP_STATUS: ClassVar[int | None] = 409
    GRPC_STATUS: ClassVar[str | None] = "ABORTED"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The endpoint is disabled; enable it first."


class AgentFrozen(RefusalError):
    """An admin froze the agent, its team or its org."""

    CODE: ClassVar[str | None] = "agent_frozen"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "An admin froze the agent, its team or its org."


class SessionClosed(RefusalError):
    """The session is closed."""

    CODE: ClassVar[str | None] = "session_closed"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The session is closed."


class SessionExpired(RefusalError):
    """The session has expired."""

    CODE: ClassVar[str | None] = "session_expired"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The session has expired."


class SessionLimitExceeded(RefusalError):
    """The session's limit (or its maximum number of payments) does not cover this payment."""

    CODE: ClassVar[str | None] = "session_limit_exceeded"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The session's limit (or its maximum number of payments) does not cover this payment."
    )


class DomainNotAllowed(RefusalError):
    """A policy does not allow the resource's domain."""

    CODE: ClassVar[str | None] = "domain_not_allowed"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "A policy does not allow the resource's domain."


class NetworkNotAllowed(RefusalError):
    """A policy, or the wallet, does not allow the offer's network."""

    CODE: ClassVar[str | None] = "network_not_allowed"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "A policy, or the wallet, does not allow the offer's network."


class AssetNotAllowed(RefusalError):
    """A policy, or the configuration, does not allow the offer's asset."""

    CODE: ClassVar[str | None] = "asset_not_allowed"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "A policy, or the configuration, does not allow the offer's asset."


class PayeeNotAllowed(RefusalError):
    """A policy does not allow the payee."""

    CODE: ClassVar[str | None] = "payee_not_allowed"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "A policy does not allow the payee."


class PriceAboveMax(RefusalError):
    """The price is above a policy's maximum per payment, or above the request's maxPrice."""

    CODE: ClassVar[str | None] = "price_above_max"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "The price is above a policy's maximum per payment, or above the request's maxPrice."
    )


class LoopDetected(RefusalError):
    """Too many payments for the same method and URL within the loop guard's window."""

    CODE: ClassVar[str | None] = "loop_detected"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = (
        "Too many payments for the same method and URL within the loop guard's window."
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
    """The paying wallet cannot cover this payment beside what open payments hold."""

    CODE: ClassVar[str | None] = "wallet_insufficient_funds"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "The paying wallet cannot cover this payment beside what open payments hold."


class ApprovalRequired(RefusalError):
    """An admin denied the payment, or did not answer in time."""

    CODE: ClassVar[str | None] = "approval_required"
    KIND: ClassVar[str | None] = "refusal"
    HTTP_STATUS: ClassVar[int | None] = 403
    GRPC_STATUS: ClassVar[str | None] = "PERMISSION_DENIED"
    FIGURES: ClassVar[tuple[str, ...]] = ("level", "limit", "requested", "remaining", "paymentId",)
    DESCRIPTION: ClassVar[str] = "An admin denied the payment, or did not answer in time."


class BadPaymentOffer(UpstreamError):
    """The seller's 402 is malformed or hostile; nothing was signed."""

    CODE: ClassVar[str | None] = "bad_payment_offer"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 502
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The seller's 402 is malformed or hostile; nothing was signed."


class UpstreamUnreachable(UpstreamError):
    """The connection to the seller failed."""

    CODE: ClassVar[str | None] = "upstream_unreachable"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 502
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId",)
    DESCRIPTION: ClassVar[str] = "The connection to the seller failed."


class UpstreamResponseTooLarge(UpstreamError):
    """The seller's answer is larger than Paybound reads."""

    CODE: ClassVar[str | None] = "upstream_response_too_large"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 502
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId",)
    DESCRIPTION: ClassVar[str] = "The seller's answer is larger than Paybound reads."


class UpstreamTimeout(UpstreamError):
    """The seller did not answer in time; a sent payment is reconciled on chain."""

    CODE: ClassVar[str | None] = "upstream_timeout"
    KIND: ClassVar[str | None] = "upstream"
    HTTP_STATUS: ClassVar[int | None] = 504
    GRPC_STATUS: ClassVar[str | None] = "DEADLINE_EXCEEDED"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId",)
    DESCRIPTION: ClassVar[str] = "The seller did not answer in time; a sent payment is reconciled on chain."


class PaymentNotSigned(UnavailableError):
    """The settlement worker refused or did not sign in time; nothing was paid."""

    CODE: ClassVar[str | None] = "payment_not_signed"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 503
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ("paymentId", "reason",)
    DESCRIPTION: ClassVar[str] = "The settlement worker refused or did not sign in time; nothing was paid."


class TooManyStreams(UnavailableError):
    """Too many event streams are open on this governor."""

    CODE: ClassVar[str | None] = "too_many_streams"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 503
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "Too many event streams are open on this governor."


class NotReady(UnavailableError):
    """The governor cannot reach its database."""

    CODE: ClassVar[str | None] = "not_ready"
    KIND: ClassVar[str | None] = "unavailable"
    HTTP_STATUS: ClassVar[int | None] = 503
    GRPC_STATUS: ClassVar[str | None] = "UNAVAILABLE"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The governor cannot reach its database."


class InternalError(ServerError):
    """The request failed; it is safe to retry with the same Idempotency-Key."""

    CODE: ClassVar[str | None] = "internal_error"
    KIND: ClassVar[str | None] = "internal"
    HTTP_STATUS: ClassVar[int | None] = 500
    GRPC_STATUS: ClassVar[str | None] = "INTERNAL"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "The request failed; it is safe to retry with the same Idempotency-Key."


class DashboardMissing(ServerError):
    """A dashboard file is missing from the installation."""

    CODE: ClassVar[str | None] = "dashboard_missing"
    KIND: ClassVar[str | None] = "internal"
    HTTP_STATUS: ClassVar[int | None] = 500
    GRPC_STATUS: ClassVar[str | None] = "INTERNAL"
    FIGURES: ClassVar[tuple[str, ...]] = ()
    DESCRIPTION: ClassVar[str] = "A dashboard file is missing from the installation."


#: Every code in precedence order: when several apply, Paybound reports the first.
PRECEDENCE: tuple[str, ...] = (
    "unauthenticated",
    "invalid_api_key",
    "forbidden",
    "invalid_json",
    "payload_too_large",
    "invalid_request",
    "invalid_amount",
    "invalid_idempotency_key",
    "invalid_if_match",
    "invalid_command",
    "destination_not_allowed",
    "idempotency_key_reused",
    "not_found",
    "org_not_found",
    "team_not_found",
    "agent_not_found",
    "session_not_found",
    "payment_not_found",
    "webhook_endpoint_not_found",
    "webhook_delivery_not_found",
    "policy_version_mismatch",
    "org_already_exists",
    "team_already_exists",
    "agent_already_exists",
    "session_already_exists",
    "intent_conflict",
    "payment_already_used",
    "approval_already_decided",
    "intent_already_settled",
    "intent_already_refunded",
    "payment_already_signed",
    "release_not_proven",
    "settle_exceeds_reserved",
    "webhook_endpoints_limit_reached",
    "webhook_delivery_already_delivered",
    "webhook_endpoint_disabled",
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
    "approval_required",
    "bad_payment_offer",
    "upstream_unreachable",
    "upstream_response_too_large",
    "upstream_timeout",
    "payment_not_signed",
    "too_many_streams",
    "not_ready",
    "internal_error",
    "dashboard_missing",
)

#: The class raised for each code.
ERRORS_BY_CODE: dict[str, type[PayboundError]] = {
    "unauthenticated": Unauthenticated,
    "invalid_api_key": InvalidApiKey,
    "forbidden": Forbidden,
    "invalid_json": InvalidJson,
    "payload_too_large": PayloadTooLarge,
    "invalid_request": InvalidRequest,
    "invalid_amount": InvalidAmount,
    "invalid_idempotency_key": InvalidIdempotencyKey,
    "invalid_if_match": InvalidIfMatch,
    "invalid_command": InvalidCommand,
    "destination_not_allowed": DestinationNotAllowed,
    "idempotency_key_reused": IdempotencyKeyReused,
    "not_found": NotFound,
    "org_not_found": OrgNotFound,
    "team_not_found": TeamNotFound,
    "agent_not_found": AgentNotFound,
    "session_not_found": SessionNotFound,
    "payment_not_found": PaymentNotFound,
    "webhook_endpoint_not_found": WebhookEndpointNotFound,
    "webhook_delivery_not_found": WebhookDeliveryNotFound,
    "policy_version_mismatch": PolicyVersionMismatch,
    "org_already_exists": OrgAlreadyExists,
    "team_already_exists": TeamAlreadyExists,
    "agent_already_exists": AgentAlreadyExists,
    "session_already_exists": SessionAlreadyExists,
    "intent_conflict": IntentConflict,
    "payment_already_used": PaymentAlreadyUsed,
    "approval_already_decided": ApprovalAlreadyDecided,
    "intent_already_settled": IntentAlreadySettled,
    "intent_already_refunded": IntentAlreadyRefunded,
    "payment_already_signed": PaymentAlreadySigned,
    "release_not_proven": ReleaseNotProven,
    "settle_exceeds_reserved": SettleExceedsReserved,
    "webhook_endpoints_limit_reached": WebhookEndpointsLimitReached,
    "webhook_delivery_already_delivered": WebhookDeliveryAlreadyDelivered,
    "webhook_endpoint_disabled": WebhookEndpointDisabled,
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
    "approval_required": ApprovalRequired,
    "bad_payment_offer": BadPaymentOffer,
    "upstream_unreachable": UpstreamUnreachable,
    "upstream_response_too_large": UpstreamResponseTooLarge,
    "upstream_timeout": UpstreamTimeout,
    "payment_not_signed": PaymentNotSigned,
    "too_many_streams": TooManyStreams,
    "not_ready": NotReady,
    "internal_error": InternalError,
    "dashboard_missing": DashboardMissing,
}

__all__ = [
    "CATALOGUE_SOURCE",
    "ERRORS_BY_CODE",
    "PRECEDENCE",
    "AgentAlreadyExists",
    "AgentFrozen",
    "AgentLimitExceeded",
    "AgentNotFound",
    "ApprovalAlreadyDecided",
    "ApprovalRequired",
    "AssetNotAllowed",
    "BadPaymentOffer",
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
    "NetworkNotAllowed",
    "NotFound",
    "NotReady",
    "OrgAlreadyExists",
    "OrgLimitExceeded",
    "OrgNotFound",
    "PayeeNotAllowed",
    "PayloadTooLarge",
    "PaymentAlreadySigned",
    "PaymentAlreadyUsed",
    "PaymentNotFound",
    "PaymentNotSigned",
    "PolicyVersionMismatch",
    "PriceAboveMax",
    "RateLimited",
    "ReleaseNotProven",
    "SessionAlreadyExists",
    "SessionClosed",
    "SessionExpired",
    "SessionLimitExceeded",
    "SessionNotFound",
    "SettleExceedsReserved",
    "TeamAlreadyExists",
    "TeamLimitExceeded",
    "TeamNotFound",
    "TooManyStreams",
    "Unauthenticated",
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
