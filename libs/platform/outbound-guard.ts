import { lookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent } from 'undici';

// Pay-and-fetch calls URLs an agent names, from inside the operator's network. Unless the
// operator allows it, those calls may reach only public addresses: not the governor's own
// loopback, the cloud metadata service, or private networks. The check runs on the address
// actually connected to (in the dispatcher's DNS lookup), so a name that resolves to a
// public address when checked and a private one when used (DNS rebinding) is still refused.

export type PrivateAddressPolicy = 'deny' | 'allow';

/** Special-purpose ranges (RFC 6890 and friends) that a paid API never legitimately lives in. */
const NOT_PUBLIC = new BlockList();
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
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

export class DestinationNotAllowedError extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`${host} resolves to ${address}, which is not a public address`);
    this.name = 'DestinationNotAllowedError';
  }
}

/** Whether an IP address is on the public internet; IPv4 inside IPv6 (mapped, NAT64) is judged as IPv4. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !NOT_PUBLIC.check(address, 'ipv4');
  if (family !== 6) return false;
  const embedded = /^(?:::ffff:|64:ff9b::)(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1] ?? hexEmbeddedIpv4(address);
  if (embedded !== undefined) return isPublicAddress(embedded);
  return !NOT_PUBLIC.check(address, 'ipv6');
}

/** `::ffff:7f00:1` → `127.0.0.1`: the hex form of an IPv4-mapped or NAT64 address. */
function hexEmbeddedIpv4(address: string): string | undefined {
  const match = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (match === null) return undefined;
  const high = parseInt(match[1]!, 16);
  const low = parseInt(match[2]!, 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** Refuses a URL whose host is a literal non-public IP (no DNS lookup happens for those). */
export function assertPublicLiteral(url: URL): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0 && !isPublicAddress(host)) throw new DestinationNotAllowedError(url.hostname, host);
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that fails when any address of the name is not public. */
function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error !== null) return callback(error, []);
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused !== undefined) return callback(new DestinationNotAllowedError(hostname, refused.address), []);
    if (options.all === true) return callback(null, addresses);
    const first = addresses[0];
    if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
    callback(null, first.address, first.family);
  });
}

export interface OutboundOptions {
  /** The most bytes of response headers accepted; undici's default is 16 KiB. */
  maxHeaderSize?: number;
}

/** The dispatcher for outbound pay-and-fetch requests: public addresses only, unless allowed. */
export function outboundDispatcher(policy: PrivateAddressPolicy, options: OutboundOptions = {}): Agent {
  const sizes = options.maxHeaderSize === undefined ? {} : { maxHeaderSize: options.maxHeaderSize };
  return policy === 'allow' ? new Agent(sizes) : new Agent({ ...sizes, connect: { lookup: publicOnlyLookup } });
}

/** The guard's refusal, wherever fetch wrapped it. */
export function destinationRefusal(error: unknown): DestinationNotAllowedError | undefined {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    if (cause instanceof DestinationNotAllowedError) return cause;
  }
  return undefined;
}
