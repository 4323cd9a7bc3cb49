import { lookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, buildConnector } from 'undici';

// Pay-and-fetch calls URLs an agent names, from inside the operator's network. Unless the
// operator allows it, those calls may reach only public addresses: not the governor's own
// loopback, the cloud metadata service, or private networks. The check runs on the address
// actually connected to (in the dispatcher's connector and DNS lookup), so a name that
// resolves to a public address when checked and a private one when used (DNS rebinding) is
// still refused. An operator can name single private destinations (host and port) that are
// allowed anyway, such as a local seller; nothing else private is reachable then.

export type PrivateAddressPolicy = 'deny' | 'allow';

/** One private destination the operator allows: a host (IP literal or name) and a port. */
export interface AllowedDestination {
  /** Lower case; an IP literal in canonical form, IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
}

/** An allow-list names a few local services, not networks. */
export const ALLOWED_DESTINATIONS_MAX = 32;
/** Bounds the name lookup at webhook registration; delivery has its own timeout. */
const RESOLVE_TIMEOUT_MS = 5_000;

/** Special-purpose IPv4 ranges (RFC 6890 and friends) that a paid API never legitimately lives in. */
const NOT_PUBLIC_V4 = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NOT_PUBLIC_V4.addSubnet(network, prefix, 'ipv4');
}

/**
 * IPv6 ranges that are never public. The ranges that carry an IPv4 address inside them
 * (IPv4-compatible and mapped, 6to4, NAT64, Teredo) are not listed: the IPv4 inside is judged.
 */
const NOT_PUBLIC_V6 = new BlockList();
for (const [network, prefix] of [
  ['100::', 64], // discard-only
  ['2001:2::', 48], // benchmarking
  ['2001:10::', 28], // ORCHID
  ['2001:20::', 28], // ORCHIDv2
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation
  ['5f00::', 16], // segment routing identifiers
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routed inside some sites)
  ['ff00::', 8], // multicast
] as const) {
  NOT_PUBLIC_V6.addSubnet(network, prefix, 'ipv6');
}

export class DestinationNotAllowedError extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
    message = `${host} resolves to ${address}, which is not a public address`,
  ) {
    super(message);
    this.name = 'DestinationNotAllowedError';
  }
}

/** The eight 16-bit groups of an IPv6 address (a zone id is ignored), or undefined when it is not one. */
export function ipv6Groups(address: string): number[] | undefined {
  const withoutZone = address.split('%')[0] ?? '';
  if (isIP(withoutZone) !== 6) return undefined;
  let text = withoutZone.toLowerCase();
  // A trailing dotted quad stands for the last two groups.
  const quad = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (quad !== null) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const before = parse(head);
  if (tail === undefined) return before;
  const after = parse(tail);
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
}

const ipv4Of = (high: number, low: number): string => [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');

/**
 * The IPv4 addresses an IPv6 address carries and reaches, when it is of a kind that does:
 * IPv4-compatible (::/96), mapped (::ffff:0:0/96), translated (::ffff:0:0:0/96), 6to4
 * (2002::/16), NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48) and Teredo (2001::/32,
 * server and client). `null` means the address hides an IPv4 address where it cannot be told.
 */
function embeddedIpv4(groups: readonly number[]): string[] | null | undefined {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0) {
    if (g4 === 0 && (g5 === 0 || g5 === 0xffff)) return [ipv4Of(g6, g7)];
    if (g4 === 0xffff && g5 === 0) return [ipv4Of(g6, g7)];
  }
  if (g0 === 0x2002) return [ipv4Of(g1, g2)];
  if (g0 === 0x2001 && g1 === 0) return [ipv4Of(g2, g3), ipv4Of(g6 ^ 0xffff, g7 ^ 0xffff)];
  if (g0 === 0x64 && g1 === 0xff9b) {
    if (g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return [ipv4Of(g6, g7)];
    // In the local-use prefix a site picks the prefix length (RFC 6052: /48 to /96), so the
    // IPv4 address sits in a place only that site knows, except in the /96 form.
    if (g2 === 1 && g3 === 0 && g4 === 0 && g5 === 0) return [ipv4Of(g6, g7)];
    return null;
  }
  return undefined;
}

/** Whether an IP address is on the public internet; an IPv4 address inside IPv6 is judged as IPv4. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address.split('%')[0] ?? '');
  if (family === 4) return !NOT_PUBLIC_V4.check(address, 'ipv4');
  const groups = family === 6 ? ipv6Groups(address) : undefined;
  if (groups === undefined) return false;
  const embedded = embeddedIpv4(groups);
  if (embedded === null) return false;
  if (embedded !== undefined) return embedded.every((v4) => !NOT_PUBLIC_V4.check(v4, 'ipv4'));
  return !NOT_PUBLIC_V6.check(groups.map((g) => g.toString(16)).join(':'), 'ipv6');
}

/** An IP literal in one spelling, so that `::1` and `0:0::1` compare equal; names lower-cased. */
function canonicalHost(host: string): string {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  const groups = ipv6Groups(bare);
  return groups === undefined ? bare : groups.map((g) => g.toString(16)).join(':');
}

/**
 * Reads an allow-list of `host:port` entries separated by commas (`127.0.0.1:4021`,
 * `[::1]:4021`, `seller.internal:8080`); throws an Error naming the first bad entry.
 */
export function parseAllowedDestinations(raw: string): AllowedDestination[] {
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length > ALLOWED_DESTINATIONS_MAX) throw new Error(`at most ${ALLOWED_DESTINATIONS_MAX} destinations, got ${entries.length}`);
  return entries.map((entry) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    const host = match?.[1] ?? '';
    const bracketed = host.startsWith('[');
    const literalOk = bracketed ? isIP(host.slice(1, -1)) === 6 : !/^[0-9.]+$/.test(host) || isIP(host) === 4;
    if (match === null || !literalOk || port < 1 || port > 65_535) {
      throw new Error(`"${entry.slice(0, 80)}" is not host:port (e.g. 127.0.0.1:4021, [::1]:4021 or seller.internal:8080)`);
    }
    return { host: canonicalHost(host), port };
  });
}

/** Whether connecting to `address` for `hostname`:`port` is allowed: a public address, or a destination on the list. */
function destinationAllowed(hostname: string, address: string, port: number, allowed: readonly AllowedDestination[]): boolean {
  if (isPublicAddress(address)) return true;
  const name = canonicalHost(hostname);
  const ip = canonicalHost(address);
  return allowed.some((entry) => entry.port === port && (entry.host === ip || entry.host === name));
}

function portOf(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** Refuses a URL whose host is a literal non-public IP not on the list (no DNS lookup happens for those). */
export function assertPublicLiteral(url: URL, allowed: readonly AllowedDestination[] = []): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0 && !destinationAllowed(host, host, portOf(url), allowed)) throw new DestinationNotAllowedError(url.hostname, host);
}

export interface ResolveOptions {
  allowed?: readonly AllowedDestination[];
  /** The name lookup; dns.lookup unless a test passes its own. */
  lookupAll?: (hostname: string) => Promise<LookupAddress[]>;
  timeoutMs?: number;
}

function systemLookupAll(hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolveLookup, reject) => lookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error === null ? resolveLookup(addresses) : reject(error))));
}

/**
 * Refuses a URL whose host is, or resolves to, a non-public address (or one that does not
 * resolve at all), unless the destination is on the list. For checks ahead of use, such as
 * registering a webhook: the dispatcher still checks the address it connects to, because a
 * name can resolve elsewhere later.
 */
export async function assertResolvesPublic(url: URL | string, options: ResolveOptions = {}): Promise<void> {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  const allowed = options.allowed ?? [];
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = portOf(parsed);
  if (isIP(host) !== 0) return assertPublicLiteral(parsed, allowed);
  // RFC 6761: every name under localhost is loopback, whatever a resolver answers.
  const name = host.toLowerCase().replace(/\.$/, '');
  if ((name === 'localhost' || name.endsWith('.localhost')) && !destinationAllowed(host, '127.0.0.1', port, allowed)) {
    throw new DestinationNotAllowedError(host, 'loopback', `${host} is loopback, which is not a public address`);
  }
  const timeoutMs = options.timeoutMs ?? RESOLVE_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  let addresses: LookupAddress[];
  try {
    addresses = await Promise.race([
      (options.lookupAll ?? systemLookupAll)(host),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEOUT' })), timeoutMs);
      }),
    ]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new DestinationNotAllowedError(host, 'unresolved', `${host} does not resolve (${code}), so it cannot be checked for a public address`);
  } finally {
    clearTimeout(timer);
  }
  if (addresses.length === 0) throw new DestinationNotAllowedError(host, 'unresolved', `${host} resolves to no address`);
  const refused = addresses.find((a) => !destinationAllowed(host, a.address, port, allowed));
  if (refused !== undefined) throw new DestinationNotAllowedError(host, refused.address);
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that fails when any address of the name is not allowed for this port. */
function guardedLookup(port: number, allowed: readonly AllowedDestination[]) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error !== null) return callback(error, []);
      const refused = addresses.find((a) => !destinationAllowed(hostname, a.address, port, allowed));
      if (refused !== undefined) return callback(new DestinationNotAllowedError(hostname, refused.address), []);
      if (options.all === true) return callback(null, addresses);
      const first = addresses[0];
      if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

export interface OutboundOptions {
  /** The most bytes of response headers accepted; undici's default is 16 KiB. */
  maxHeaderSize?: number;
}

/**
 * The dispatcher for outbound requests: public addresses only, plus the allowed
 * destinations, unless private addresses are allowed altogether. An IP literal is checked
 * before connecting (no lookup happens for it); a name is checked on every address it
 * resolves to. The lookup is bound to a port, so a connector is kept per allowed port and
 * one for every other port: at most ALLOWED_DESTINATIONS_MAX + 1.
 */
export function outboundDispatcher(policy: PrivateAddressPolicy, allowed: readonly AllowedDestination[] = [], options: OutboundOptions = {}): Agent {
  const sizes = options.maxHeaderSize === undefined ? {} : { maxHeaderSize: options.maxHeaderSize };
  if (policy === 'allow') return new Agent(sizes);
  const allowedPorts = new Set(allowed.map((entry) => entry.port));
  const publicOnly = buildConnector({ lookup: guardedLookup(0, []) });
  const perPort = new Map<number, buildConnector.connector>();
  const connectorFor = (port: number): buildConnector.connector => {
    if (!allowedPorts.has(port)) return publicOnly;
    let connector = perPort.get(port);
    if (connector === undefined) {
      connector = buildConnector({ lookup: guardedLookup(port, allowed) });
      perPort.set(port, connector);
    }
    return connector;
  };
  return new Agent({
    ...sizes,
    connect: (connectOptions, callback) => {
      const port = connectOptions.port !== '' ? Number(connectOptions.port) : connectOptions.protocol === 'https:' ? 443 : 80;
      const host = connectOptions.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0 && !destinationAllowed(host, host, port, allowed)) {
        callback(new DestinationNotAllowedError(connectOptions.hostname, host), null);
        return;
      }
      connectorFor(port)(connectOptions, callback);
    },
  });
}

/** The guard's refusal, wherever fetch wrapped it. */
export function destinationRefusal(error: unknown): DestinationNotAllowedError | undefined {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    if (cause instanceof DestinationNotAllowedError) return cause;
  }
  return undefined;
}
