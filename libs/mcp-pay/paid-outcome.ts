import type { SellerOutcome } from '../settlement/outcome.js';
import type { ToolCallOutcome } from './transport.js';

// What a paid tool call's answer tells the ledger, pure: the MCP counterpart of
// sellerOutcome for an HTTP answer. Only a successful settlement in
// `_meta["x402/payment-response"]` names a transaction to verify; every other answer leaves
// the outcome to the chain, where the worker settles it, or releases the hold once the
// authorization expired unused. None of these releases money by itself.

const REASON = /[^a-z0-9_]/gi;

export function paidToolCallOutcome(outcome: ToolCallOutcome): SellerOutcome {
  switch (outcome.kind) {
    case 'completed': {
      const { settlement, result } = outcome;
      if (settlement.status === 'read') {
        const { response } = settlement;
        if (response.success && !result.isError) return { outcome: 'paid', transaction: response.transaction, detail: 'mcp_tool_settled' };
        if (response.success) return { outcome: 'unknown', transaction: response.transaction, detail: 'mcp_tool_error_after_settlement' };
        return { outcome: 'unknown', transaction: response.transaction === '' ? null : response.transaction, detail: `seller_${(response.errorReason ?? 'settlement_failed').replace(REASON, '_').slice(0, 64)}` };
      }
      if (settlement.status === 'malformed') return { outcome: 'unknown', transaction: null, detail: 'payment_response_invalid' };
      // A tool that failed after payment is not settled by the reference wrapper: its
      // authorization expires unused, which the chain shows at validBefore.
      return { outcome: 'unknown', transaction: null, detail: result.isError ? 'mcp_tool_failed_unsettled' : 'mcp_no_settlement' };
    }
    case 'payment_rejected': {
      const transaction = outcome.settlement.status === 'read' && outcome.settlement.response.transaction !== '' ? outcome.settlement.response.transaction : null;
      return { outcome: 'refused', transaction, detail: 'seller_rejected_payment' };
    }
    case 'failed':
      return { outcome: 'unknown', transaction: null, detail: `mcp_error_${String(outcome.code).replace(REASON, '_').slice(0, 16)}` };
    case 'payment_required':
      // Not an answer to a paid call (the classifier answers payment_rejected for those).
      return { outcome: 'unknown', transaction: null, detail: 'mcp_payment_required_again' };
    default: {
      const _never: never = outcome;
      return { outcome: 'unknown', transaction: null, detail: 'mcp_unknown_answer' };
    }
  }
}
