import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { fetch } from 'undici';
import { assertPublicLiteral, destinationRefusal, isPublicAddress, outboundDispatcher } from './outbound-guard.js';

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
    ['fd00:ec2::254', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:7f00:1', false],
    ['64:ff9b::a9fe:a9fe', false],
    ['::ffff:8.8.8.8', true],
    ['2606:4700:4700::1111', true],
    ['not-an-ip', false],
  ])('%s is public: %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  it('refuses literal private hosts in URLs, and lets names through to the lookup', () => {
    expect(() => assertPublicLiteral(new URL('http://127.0.0.1:8080/admin'))).toThrow(/not a public address/);
    expect(() => assertPublicLiteral(new URL('http://[::1]/'))).toThrow(/not a public address/);
    expect(() => assertPublicLiteral(new URL('https://8.8.8.8/'))).not.toThrow();
    expect(() => assertPublicLiteral(new URL('https://api.example.com/'))).not.toThrow();
  });

  it('refuses at connect time a name that resolves to loopback, and allows it when the operator does', async () => {
    const server = createServer((_request, response) => response.end('internal'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const refused = await fetch(`http://localhost:${port}/`, { dispatcher: outboundDispatcher('deny') }).catch((error: unknown) => error);
      expect(destinationRefusal(refused)?.message).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), which is not a public address$/);
      const allowed = await fetch(`http://127.0.0.1:${port}/`, { dispatcher: outboundDispatcher('allow') });
      expect(await allowed.text()).toBe('internal');
    } finally {
      server.close();
    }
  });
});
