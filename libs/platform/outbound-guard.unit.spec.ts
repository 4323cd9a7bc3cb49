import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetch } from 'undici';
import {
  assertPublicLiteral,
  assertResolvesPublic,
  destinationRefusal,
  ipv6Groups,
  isPublicAddress,
  outboundDispatcher,
  parseAllowedDestinations,
} from './outbound-guard.js';

describe('which addresses pay-and-fetch may reach', () => {
  it.each([
    ['127.0.0.1', false],
    ['10.1.2.3', false],
    ['172.16.0.1', false],
    ['172.32.0.1', true],
    ['192.168.1.1', false],
    ['169.254.169.254', false],
    ['100.64.0.1', false],
    ['0.0.0.0', false],
    ['8.8.8.8', true],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fe80::1%eth0', false],
    ['fd00:ec2::254', false],
    ['2606:4700:4700::1111', true],
    ['2a00:1450:4001:80b::200e', true],
    ['not-an-ip', false],
  ])('%s is public: %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  // Each kind of IPv6 address that carries an IPv4 address is judged by that IPv4 address:
  // a private one inside is refused, a public one inside is allowed.
  it.each([
    // IPv4-compatible, ::/96
    ['::127.0.0.1', false],
    ['::7f00:1', false],
    ['::a9fe:a9fe', false],
    ['::8.8.8.8', true],
    // IPv4-mapped, ::ffff:0:0/96
    ['::ffff:127.0.0.1', false],
    ['::ffff:7f00:1', false],
    ['::ffff:10.0.0.1', false],
    ['0:0:0:0:0:ffff:a9fe:a9fe', false],
    ['::ffff:8.8.8.8', true],
    // IPv4-translated, ::ffff:0:0:0/96
    ['::ffff:0:127.0.0.1', false],
    ['::ffff:0:8.8.8.8', true],
    // 6to4, 2002::/16: the IPv4 address follows the prefix
    ['2002:7f00:1::1', false],
    ['2002:a9fe:a9fe::', false],
    ['2002:c0a8:101:1::1', false],
    ['2002:808:808::1', true],
    // NAT64 well-known prefix, 64:ff9b::/96
    ['64:ff9b::7f00:1', false],
    ['64:ff9b::a9fe:a9fe', false],
    ['64:ff9b::10.0.0.1', false],
    ['64:ff9b::808:808', true],
    // NAT64 local-use prefix, 64:ff9b:1::/48: judged in its /96 form, refused where the IPv4 cannot be told
    ['64:ff9b:1::7f00:1', false],
    ['64:ff9b:1::a00:1', false],
    ['64:ff9b:1::808:808', true],
    ['64:ff9b:1:808:8:800::', false],
    ['64:ff9b:2::808:808', false],
    // Teredo, 2001::/32: the server (bits 32-63) and the client (the last 32 bits, inverted)
    ['2001:0:808:808::80ff:fffe', false], // client 127.0.0.1
    ['2001:0:808:808::f5ff:fffe', false], // client 10.0.0.1
    ['2001:0:a00:1::f7f7:fbfb', false], // server 10.0.0.1
    ['2001:0:808:808::f7f7:fbfb', true], // server 8.8.8.8, client 8.8.4.4
  ])('%s (IPv4 inside) is public: %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  it.each([
    ['fec0::1', false], // site-local
    ['feff:ffff::1', false], // the end of site-local
    ['ff02::1', false], // multicast
    ['100::1', false], // discard-only
    ['2001:db8::1', false], // documentation
    ['3fff::1', false], // documentation
    ['2001:2::1', false], // benchmarking
    ['2001:20::1', false], // ORCHIDv2
    ['5f00::1', false], // segment routing
    ['fc00::1', false], // unique local
  ])('%s (special-purpose IPv6) is public: %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  it.each([
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['1::', [1, 0, 0, 0, 0, 0, 0, 0]],
    ['::ffff:1.2.3.4', [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]],
    ['2001:db8:0:0:1:0:0:1', [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]],
    ['2001:DB8::1:0:0:1', [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]],
    ['fe80::1%eth0', [0xfe80, 0, 0, 0, 0, 0, 0, 1]],
  ])('reads %s as eight groups', (address, groups) => {
    expect(ipv6Groups(address)).toEqual(groups);
  });

  it('reads nothing from what is not an IPv6 address', () => {
    expect(ipv6Groups('127.0.0.1')).toBeUndefined();
    expect(ipv6Groups('1:2:3:4:5:6:7:8:9')).toBeUndefined();
    expect(ipv6Groups('')).toBeUndefined();
  });

  it('refuses literal private hosts in URLs, and lets names through to the lookup', () => {
    expect(() => assertPublicLiteral(new URL('http://127.0.0.1:8080/admin'))).toThrow(/not a public address/);
    expect(() => assertPublicLiteral(new URL('http://[::1]/'))).toThrow(/not a public address/);
    expect(() => assertPublicLiteral(new URL('http://[::ffff:7f00:1]/'))).toThrow(/not a public address/);
    expect(() => assertPublicLiteral(new URL('http://[2002:a9fe:a9fe::1]/'))).toThrow(/not a public address/);
    expect(() => assertPublicLiteral(new URL('https://8.8.8.8/'))).not.toThrow();
    expect(() => assertPublicLiteral(new URL('https://api.example.com/'))).not.toThrow();
  });

  it('lets a literal private host through only on the allowed port', () => {
    const allowed = parseAllowedDestinations('127.0.0.1:4021');
    expect(() => assertPublicLiteral(new URL('http://127.0.0.1:4021/data'), allowed)).not.toThrow();
    expect(() => assertPublicLiteral(new URL('http://127.0.0.1:4022/data'), allowed)).toThrow(/not a public address/);
    expect(() => assertPublicLiteral(new URL('http://127.0.0.2:4021/data'), allowed)).toThrow(/not a public address/);
    expect(() => assertPublicLiteral(new URL('http://127.0.0.1/data'), allowed)).toThrow(/not a public address/);
  });
});

describe('the allow-list of private destinations', () => {
  it('reads host:port entries, IPv6 in brackets, names lower-cased', () => {
    expect(parseAllowedDestinations(' 127.0.0.1:4021, [::1]:4021 ,Seller.Internal:8080,')).toEqual([
      { host: '127.0.0.1', port: 4021 },
      { host: '0:0:0:0:0:0:0:1', port: 4021 },
      { host: 'seller.internal', port: 8080 },
    ]);
    expect(parseAllowedDestinations('')).toEqual([]);
  });

  it.each(['127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '::1:4021', '[::1]', '[127.0.0.1]:80', '999.0.0.1:80', 'http://127.0.0.1:80', 'a b:80', '-x:80', 'host:80/path'])(
    'refuses %s, naming it',
    (entry) => {
      expect(() => parseAllowedDestinations(entry)).toThrow(/is not host:port/);
    },
  );

  it('refuses more than 32 entries', () => {
    const many = Array.from({ length: 33 }, (_, n) => `10.0.0.${n}:80`).join(',');
    expect(() => parseAllowedDestinations(many)).toThrow(/at most 32 destinations/);
  });
});

describe('checking a URL ahead of use (webhook registration)', () => {
  const resolvingTo =
    (...addresses: string[]) =>
    (): Promise<{ address: string; family: number }[]> =>
      Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));

  it('accepts a name whose every address is public', async () => {
    await expect(assertResolvesPublic('https://hooks.example.com/in', { lookupAll: resolvingTo('93.184.216.34', '2606:2800:220:1::1') })).resolves.toBeUndefined();
  });

  it('refuses a name with any private address, naming it', async () => {
    await expect(assertResolvesPublic('https://hooks.example.com/in', { lookupAll: resolvingTo('93.184.216.34', '10.0.0.7') })).rejects.toThrow(
      'hooks.example.com resolves to 10.0.0.7, which is not a public address',
    );
    await expect(assertResolvesPublic('https://rebind.example/in', { lookupAll: resolvingTo('::ffff:169.254.169.254') })).rejects.toThrow(/not a public address/);
  });

  it('refuses localhost and its subdomains without asking a resolver', async () => {
    const neverAsked = (): Promise<never> => Promise.reject(new Error('the resolver was asked'));
    await expect(assertResolvesPublic('http://localhost:9000/', { lookupAll: neverAsked })).rejects.toThrow('localhost is loopback, which is not a public address');
    await expect(assertResolvesPublic('http://hooks.localhost/', { lookupAll: neverAsked })).rejects.toThrow(/loopback/);
    await expect(assertResolvesPublic('http://LOCALHOST./', { lookupAll: neverAsked })).rejects.toThrow(/loopback/);
  });

  it('refuses a name that does not resolve, or not in time', async () => {
    const notFound = (): Promise<never> => Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }));
    await expect(assertResolvesPublic('https://nowhere.invalid/', { lookupAll: notFound })).rejects.toThrow('nowhere.invalid does not resolve (ENOTFOUND)');
    const hangs = (): Promise<never> => new Promise(() => undefined);
    await expect(assertResolvesPublic('https://slow.example/', { lookupAll: hangs, timeoutMs: 50 })).rejects.toThrow(/does not resolve \(ETIMEOUT\)/);
  });

  it('judges literals without a lookup, and lets allowed destinations through', async () => {
    await expect(assertResolvesPublic('http://[64:ff9b::7f00:1]/')).rejects.toThrow(/not a public address/);
    await expect(assertResolvesPublic('https://1.1.1.1/')).resolves.toBeUndefined();
    const allowed = parseAllowedDestinations('hooks.internal:8443');
    await expect(assertResolvesPublic('https://hooks.internal:8443/', { allowed, lookupAll: resolvingTo('10.0.0.7') })).resolves.toBeUndefined();
    await expect(assertResolvesPublic('https://hooks.internal:8444/', { allowed, lookupAll: resolvingTo('10.0.0.7') })).rejects.toThrow(/not a public address/);
  });
});

describe('the outbound dispatcher', () => {
  let allowedServer: Server;
  let otherServer: Server;
  let allowedPort = 0;
  let otherPort = 0;

  const listen = async (body: string): Promise<{ server: Server; port: number }> => {
    const server = createServer((_request, response) => response.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, port: (server.address() as { port: number }).port };
  };

  beforeAll(async () => {
    ({ server: allowedServer, port: allowedPort } = await listen('seller'));
    ({ server: otherServer, port: otherPort } = await listen('internal'));
  });
  afterAll(() => {
    allowedServer.close();
    otherServer.close();
  });

  it('refuses at connect time a name that resolves to loopback, and allows it when the operator does', async () => {
    const refused = await fetch(`http://localhost:${otherPort}/`, { dispatcher: outboundDispatcher('deny') }).catch((error: unknown) => error);
    expect(destinationRefusal(refused)?.message).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), which is not a public address$/);
    const allowed = await fetch(`http://127.0.0.1:${otherPort}/`, { dispatcher: outboundDispatcher('allow') });
    expect(await allowed.text()).toBe('internal');
  });

  it('refuses a literal private address when connecting, even without the check ahead', async () => {
    const refused = await fetch(`http://127.0.0.1:${otherPort}/`, { dispatcher: outboundDispatcher('deny') }).catch((error: unknown) => error);
    expect(destinationRefusal(refused)?.message).toBe('127.0.0.1 resolves to 127.0.0.1, which is not a public address');
  });

  it('reaches exactly the allowed host and port, and nothing else private', async () => {
    const dispatcher = outboundDispatcher('deny', parseAllowedDestinations(`127.0.0.1:${allowedPort}`));
    expect(await (await fetch(`http://127.0.0.1:${allowedPort}/data`, { dispatcher })).text()).toBe('seller');
    const otherPortRefused = await fetch(`http://127.0.0.1:${otherPort}/`, { dispatcher }).catch((error: unknown) => error);
    expect(destinationRefusal(otherPortRefused)).toBeDefined();
    // localhost also resolves to ::1 here, which is not on the list.
    const byName = await fetch(`http://localhost:${otherPort}/`, { dispatcher }).catch((error: unknown) => error);
    expect(destinationRefusal(byName)).toBeDefined();
  });
});
