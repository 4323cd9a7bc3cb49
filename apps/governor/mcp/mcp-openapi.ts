// The MCP gateway's routes in the OpenAPI document (apps/governor/http/openapi.ts spreads them in).

const problem = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: problem } } });
const usd = { type: 'string', pattern: '^\\d+\\.\\d{2,6}$', examples: ['0.02'] };
const serverName = { type: 'string', pattern: '^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$', description: 'Agents see its tools as `<name>__<tool>`' };
const toolName = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,128}$' };

const mcpServer = {
  type: 'object',
  properties: {
    name: serverName,
    url: { type: 'string', format: 'uri', description: 'The streamable-HTTP endpoint' },
    orgIds: { type: 'array', items: { type: 'string' } },
    tools: { type: ['array', 'null'], items: toolName, description: 'The tools offered to agents; null for every tool it lists' },
    description: { type: ['string', 'null'] },
    enabled: { type: 'boolean' },
    version: { type: 'integer', description: 'The version of its event stream (`mcp-server-<name>`)' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

const definitionProperties = {
  url: { type: 'string', format: 'uri', maxLength: 2048, description: 'https (http only with PAYBOUND_FETCH_PRIVATE_ADDRESSES=allow), no credentials, query or fragment; public addresses only unless private ones are allowed' },
  orgIds: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 100, uniqueItems: true, description: 'The orgs whose agents may list and call it' },
  tools: { type: 'array', items: toolName, minItems: 1, maxItems: 200, uniqueItems: true, description: 'Only these tools; absent for all' },
  description: { type: 'string', maxLength: 512 },
};

const nameParam = { name: 'name', in: 'path', required: true, schema: serverName };

const toolResult = {
  type: 'object',
  description: 'The MCP tool result as the upstream gave it',
  properties: {
    content: { type: 'array', items: { type: 'object' } },
    isError: { type: 'boolean', description: 'The tool\'s own failure (a tool failing after payment is not settled, and its hold is released once the authorization expired unused)' },
    structuredContent: { type: 'object' },
    meta: { type: 'object', description: 'The result\'s `_meta`, with the settlement in `x402/payment-response`' },
  },
};

export const mcpGatewayPaths = {
  '/admin/v1/mcp-servers': {
    post: {
      summary: 'Register an upstream MCP server for the gateway (McpServerRegistered, with the admin as actor)',
      requestBody: {
        required: true,
        content: { 'application/json': { schema: { type: 'object', required: ['name', 'url', 'orgIds'], additionalProperties: false, properties: { name: serverName, ...definitionProperties } } } },
      },
      responses: {
        '201': { description: 'Registered', content: { 'application/json': { schema: mcpServer } } },
        '400': problemResponse('invalid_request (`field` names it)'),
        '409': problemResponse('mcp_server_already_registered'),
      },
    },
    get: {
      summary: 'The registered upstream MCP servers',
      responses: { '200': { description: 'By name', content: { 'application/json': { schema: { type: 'object', properties: { items: { type: 'array', items: mcpServer } } } } } } },
    },
  },
  '/admin/v1/mcp-servers/{name}': {
    get: { summary: 'One upstream MCP server', parameters: [nameParam], responses: { '200': { description: 'The server', content: { 'application/json': { schema: mcpServer } } }, '404': problemResponse('mcp_server_not_found') } },
    patch: {
      summary: 'Change an upstream MCP server (McpServerChanged with before and after; a change that changes nothing records nothing)',
      parameters: [nameParam],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: { type: 'object', additionalProperties: false, minProperties: 1, properties: { ...definitionProperties, tools: { ...definitionProperties.tools, type: ['array', 'null'] }, description: { type: ['string', 'null'], maxLength: 512 }, enabled: { type: 'boolean' } } },
          },
        },
      },
      responses: { '200': { description: 'The server as it now is', content: { 'application/json': { schema: mcpServer } } }, '400': problemResponse('invalid_request'), '404': problemResponse('mcp_server_not_found') },
    },
    delete: {
      summary: 'Remove an upstream MCP server (McpServerRemoved): it is neither listed nor callable any more',
      parameters: [nameParam],
      responses: { '200': { description: 'Removed' }, '404': problemResponse('mcp_server_not_found') },
    },
  },
  '/v1/mcp/tools': {
    get: {
      summary: 'The tools of every upstream MCP server the agent\'s org may use, namespaced `<server>__<tool>`, with their price when the catalog knows it',
      responses: {
        '200': {
          description: 'Tools, and the servers that could not be listed now',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  tools: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        name: { type: 'string' },
                        server: serverName,
                        tool: toolName,
                        title: { type: 'string' },
                        description: { type: 'string' },
                        inputSchema: { type: 'object' },
                        outputSchema: { type: 'object' },
                        annotations: { type: 'object' },
                        price: { oneOf: [usd, { type: 'null' }] },
                        priceAtomic: { type: ['string', 'null'] },
                        network: { type: ['string', 'null'] },
                      },
                    },
                  },
                  unavailable: { type: 'array', items: { type: 'object', properties: { server: serverName, code: { type: 'string' } } } },
                },
              },
            },
          },
        },
      },
    },
  },
  '/v1/sessions/{id}/mcp/call': {
    post: {
      summary: 'Call a tool of an upstream MCP server; a payment it asks for is decided under the session and paid by Paybound',
      description:
        'Both x402 MCP signaling forms are read (an `isError` tool result with the PaymentRequired in `structuredContent`, and a JSON-RPC error 402 with it in `error.data`). The payment is decided like pay-and-fetch: the resource is `<server url>#<tool>` (domain rules read its host), the method `MCP`, the loop guard counts calls with the same tool and arguments, `maxPerPayment`, payee, network and asset rules and approvals apply. The worker signs, Paybound retries with `_meta["x402/payment"]` and records the settlement of `_meta["x402/payment-response"]`, reconciled on chain. Accepts `Idempotency-Key`: a retry never pays twice.',
      parameters: [
        { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
        { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } },
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['server', 'tool'],
              additionalProperties: false,
              properties: {
                server: serverName,
                tool: toolName,
                arguments: { type: 'object', description: 'At most 64 KiB as JSON' },
                meta: { type: 'object', description: 'Extra `_meta` for the upstream; x402 keys are dropped' },
                maxPrice: usd,
              },
            },
          },
        },
      },
      responses: {
        '200': {
          description: 'The tool\'s answer with what it cost',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  server: serverName,
                  tool: toolName,
                  result: { oneOf: [toolResult, { type: 'null' }] },
                  error: { oneOf: [{ type: 'object', properties: { code: { type: 'integer' }, message: { type: 'string' } } }, { type: 'null' }], description: 'A JSON-RPC error of the upstream not about payment' },
                  payment: {
                    oneOf: [
                      { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, amount: usd, remaining: { oneOf: [usd, { type: 'null' }] }, transaction: { type: ['string', 'null'] } } },
                      { type: 'null' },
                    ],
                  },
                },
              },
            },
          },
        },
        '202': { description: 'The payment awaits an admin\'s approval; `result` is null' },
        '400': problemResponse('invalid_request (`field` names it)'),
        '403': problemResponse('A refusal (session_limit_exceeded, loop_detected, payee_not_allowed, price_above_max, …) with `level`, `limit`, `requested`, `remaining`, `paymentId`'),
        '404': problemResponse('session_not_found, mcp_server_not_found (also for a server the org may not use), mcp_tool_not_found'),
        '502': problemResponse('bad_payment_offer (nothing reserved), bad_tool_result, mcp_upstream_protocol_error, upstream_unreachable, upstream_payment_rejected; with `paymentId` once a payment was sent'),
        '504': problemResponse('upstream_timeout'),
      },
    },
  },
} as const;
