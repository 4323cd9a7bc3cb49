import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

// OpenTelemetry tracing, configured by the standard OTEL_* variables. The W3C context is
// always propagated (so a caller's traceparent reaches the events and Kafka headers even
// when nothing is exported); spans are recorded and exported over OTLP/HTTP only when an
// OTLP endpoint or OTEL_TRACES_EXPORTER=otlp is set, and never with OTEL_SDK_DISABLED=true.

export { SpanKind };

export interface Tracing {
  /** Whether spans are recorded and exported. */
  readonly exporting: boolean;
  /** Sends what is buffered and stops exporting; bounded by the exporter's own timeout. */
  shutdown(): Promise<void>;
}

let contextReady = false;

/** Whether the environment asks for spans to be exported (the OTel SDK environment spec). */
export function tracesRequested(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  if (exporters.includes('none')) return false;
  if (exporters.includes('otlp')) return true;
  return (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').trim() !== '' || (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '').trim() !== '';
}

/** Sets up context propagation and, when asked for, the OTLP exporter. Call once, before serving. */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Tracing {
  if (!contextReady) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    contextReady = true;
  }
  if (!tracesRequested(env)) return { exporting: false, shutdown: () => Promise.resolve() };
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the process's own name.
  const resource = resourceFromAttributes({ 'service.name': serviceName }).merge(detectResources({ detectors: [envDetector] }));
  // The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout) and the processor OTEL_BSP_*.
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  trace.setGlobalTracerProvider(provider);
  return { exporting: true, shutdown: () => provider.shutdown() };
}

export const tracer = trace.getTracer('paybound');

/** The W3C traceparent of a context's span, to store with events and send in headers. */
export function traceparentOf(ctx: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent;
}

/** The context a stored or received traceparent continues; the root context without one. */
export function contextOf(carrier: { traceparent?: string | undefined } | Record<string, string | string[] | undefined>): Context {
  return propagation.extract(ROOT_CONTEXT, carrier);
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; the active context when absent. */
  parent?: Context;
}

/**
 * Runs `work` inside a new span that is active for everything it calls, records a thrown
 * error on it, and ends it. `work` may add attributes as it learns them.
 */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes === undefined ? {} : { attributes: options.attributes }) }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

export function markFailed(span: Span, error: unknown): void {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') span.setAttribute('paybound.error_code', code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message.slice(0, 200) : 'failed' });
}

/** A span's ids (the active one's by default), for log lines; empty when no span is recording. */
export function traceIdsOf(span: Span | undefined = trace.getSpan(context.active())): { trace_id?: string; span_id?: string } {
  const spanContext = span?.spanContext();
  if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
