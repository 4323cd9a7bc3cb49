import type { Paybound } from '../../libs/client/paybound.js';
import type { GatewayBackend } from './gateway.js';
import type { PayboundToolBackend } from './tools.js';

/** The tools' backend over Paybound's REST API, through the TypeScript client: one session. */
export function restToolBackend(paybound: Paybound, sessionId: string): PayboundToolBackend {
  return {
    async paidFetch({ url, method, maxPrice, body, contentType }) {
      const response = await paybound.fetch(sessionId, url, {
        ...(method === undefined ? {} : { method }),
        ...(maxPrice === undefined ? {} : { maxPrice }),
        ...(body === undefined ? {} : { body }),
        ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }),
      });
      return {
        status: response.status,
        contentType: response.headers.get('content-type'),
        paymentId: response.headers.get('paybound-payment-id'),
        amount: response.headers.get('paybound-amount'),
        remaining: response.headers.get('paybound-remaining'),
        replayed: response.headers.get('paybound-idempotent-replay') === 'true',
        body: await response.text(),
      };
    },
    session: () => paybound.getSession(sessionId),
    closeSession: () => paybound.closeSession(sessionId),
    searchCatalog: (query) => paybound.searchCatalog(query),
  };
}

/** The gateway over Paybound's REST API: upstream tools listed for the agent's org, called under the session. */
export function restGatewayBackend(paybound: Paybound, sessionId: string): GatewayBackend {
  return {
    listTools: () => paybound.listMcpTools(),
    callTool: (input) => paybound.callMcpTool(sessionId, input),
  };
}
