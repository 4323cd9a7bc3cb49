import { describe, expect, it } from 'vitest';
import { scrapeAllowed } from './metrics.js';
import { tracesRequested } from './tracing.js';

describe('tracing configuration from the OTEL_* environment', () => {
  it.each([
    ['nothing set: off', {}, false],
    ['an OTLP endpoint', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
    ['a traces endpoint', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    ['the otlp exporter named', { OTEL_TRACES_EXPORTER: 'otlp' }, true],
    ['the none exporter wins over an endpoint', { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, false],
    ['the SDK disabled wins over everything', { OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' }, false],
    ['a blank endpoint is no endpoint', { OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, false],
  ])('%s', (_, env, expected) => {
    expect(tracesRequested(env)).toBe(expected);
  });
});

describe('who may scrape /metrics', () => {
  it('anyone without a token; only the bearer of the token with one', () => {
    expect(scrapeAllowed(undefined, undefined)).toBe(true);
    expect(scrapeAllowed('Bearer s3cret-token', 's3cret-token')).toBe(true);
    expect(scrapeAllowed(undefined, 's3cret-token')).toBe(false);
    expect(scrapeAllowed('Bearer wrong', 's3cret-token')).toBe(false);
    expect(scrapeAllowed('Basic s3cret-token', 's3cret-token')).toBe(false);
  });
});
