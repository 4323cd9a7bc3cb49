import { isIP } from 'node:net';

import { z } from 'zod';

import { isPublicAddress, type PrivateAddressPolicy } from '../platform/outbound-guard.js';
import { isMcpToolName, isServerName, SERVER_NAME_CHARS_MAX } from './tool-names.js';

// The admin's registration of an upstream MCP server, validated at the boundary: the
// controller parses the body with these schemas (the problem filter turns a failure into
// 400 with the field) and records the result as an event. The URL is refused here when it
// cannot be a safe upstream; at call time the outbound guard still judges the address
// actually connected to, since a name can resolve elsewhere later.

export const MCP_SERVER_URL_CHARS_MAX = 2_048;
/** Orgs one upstream is shared with; more is a sign that it should be open to all. */
export const MCP_SERVER_ORGS_MAX = 100;
/** Tools an admin may pick from an upstream; absent means all that it lists. */
export const MCP_SERVER_TOOLS_MAX = 200;
const DESCRIPTION_CHARS_MAX = 512;

const orgId = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'ids are 1 to 64 letters, digits, "_" or "-"');

/**
 * Why an upstream URL is refused, or undefined when it is acceptable: https (http only
 * when private addresses are allowed, for a local development upstream), no credentials
 * (they would be stored and shown in the audit trail), no query or fragment (the same,
 * and a fragment is where the tool name goes in a payment's resource), and with private
 * addresses denied, no literal private address and no `localhost`.
 */
export function upstreamUrlProblem(value: string, policy: PrivateAddressPolicy): string | undefined {
  if (value.length > MCP_SERVER_URL_CHARS_MAX) return `must be at most ${MCP_SERVER_URL_CHARS_MAX} characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy === 'allow')) {
    return policy === 'allow' ? 'must be http(s)' : 'must be https';
  }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.search !== '' || url.hash !== '' || value.includes('#') || value.endsWith('?')) return 'must have no query or fragment';
  if (policy === 'deny') {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const local = host === 'localhost' || host.endsWith('.localhost') || host === 'localhost.';
    if (local || (isIP(host) !== 0 && !isPublicAddress(host))) return 'must be a public address';
  }
  return undefined;
}

const urlField = (policy: PrivateAddressPolicy) =>
  z
    .string()
    .max(MCP_SERVER_URL_CHARS_MAX)
    .superRefine((value, context) => {
      const problem = upstreamUrlProblem(value, policy);
      if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
    })
    // Stored in the URL parser's form, so one server is not registered twice under two spellings.
    .transform((value) => new URL(value).href);

const orgIdsField = z
  .array(orgId)
  .min(1, 'must name at least one org')
  .max(MCP_SERVER_ORGS_MAX)
  .refine((ids) => new Set(ids).size === ids.length, 'must not repeat an org');

const toolsField = z
  .array(z.string().refine(isMcpToolName, 'must be an MCP tool name: 1 to 128 of A-Z a-z 0-9 _ . -'))
  .min(1)
  .max(MCP_SERVER_TOOLS_MAX)
  .refine((names) => new Set(names).size === names.length, 'must not repeat a tool');

/** `POST /admin/v1/mcp-servers` */
export const mcpServerRegistrationSchema = (policy: PrivateAddressPolicy) =>
  z
    .object({
      name: z
        .string()
        .max(SERVER_NAME_CHARS_MAX)
        .refine(isServerName, `must be 1 to ${SERVER_NAME_CHARS_MAX} lowercase letters, digits or inner "-", starting with a letter`),
      url: urlField(policy),
      orgIds: orgIdsField,
      tools: toolsField.optional(),
      description: z.string().max(DESCRIPTION_CHARS_MAX).optional(),
    })
    .strict();

/** `PATCH /admin/v1/mcp-servers/{name}`: the name is the identity agents see and does not change. */
export const mcpServerChangeSchema = (policy: PrivateAddressPolicy) =>
  z
    .object({
      url: urlField(policy).optional(),
      orgIds: orgIdsField.optional(),
      tools: toolsField.nullable().optional(),
      description: z.string().max(DESCRIPTION_CHARS_MAX).nullable().optional(),
      enabled: z.boolean().optional(),
    })
    .strict()
    .refine((change) => Object.keys(change).length > 0, 'must change something');

export type McpServerRegistration = z.infer<ReturnType<typeof mcpServerRegistrationSchema>>;
export type McpServerChange = z.infer<ReturnType<typeof mcpServerChangeSchema>>;
