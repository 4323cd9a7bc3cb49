import { authHeaders } from './api.js';
import { $ } from './dom.js';
import { splitFrames } from './sse.js';

// One admin stream for the whole console (the governor bounds open streams per process):
// every page subscribes to the events it cares about.

/** Reconnect backoff doubles from the first value up to the second. */
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 10_000;
/** A single SSE frame larger than this is a broken stream, not a big event. */
const FRAME_CHARS_MAX = 1_000_000;
/** The most recent events a new console replays, so the event table has context. */
const BACKLOG_EVENTS = 50;

export interface LiveEvent {
  id: string;
  type: string;
  streamId: string;
  position: string | number;
  orgId?: string;
  actor?: string;
  occurredAt: string;
  data: Record<string, unknown>;
}

type Listener = (event: LiveEvent) => void;

const listeners: Listener[] = [];
let lastEventId = '';
let reconnectDelayMs = RECONNECT_MIN_MS;

export function onLiveEvent(listener: Listener): void {
  listeners.push(listener);
}

export function setStatus(text: string, state: 'live' | 'retry' | 'off'): void {
  const status = $('status');
  status.textContent = text;
  status.className = `status ${state}`;
}

class StreamRefused extends Error {
  constructor(readonly status: number) {
    super(`stream answered ${status}`);
  }
}

async function readStream(signal: AbortSignal): Promise<void> {
  const headers = authHeaders({ Accept: 'text/event-stream' });
  if (lastEventId !== '') headers['Last-Event-ID'] = lastEventId;
  const response = await fetch(`/admin/v1/stream?backlog=${BACKLOG_EVENTS}`, { headers, signal });
  if (!response.ok || response.body === null) throw new StreamRefused(response.status);
  setStatus('live', 'live');
  reconnectDelayMs = RECONNECT_MIN_MS;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    const { frames, rest } = splitFrames(buffer);
    buffer = rest;
    for (const frame of frames) {
      if (frame.id !== '') lastEventId = frame.id;
      const event = JSON.parse(frame.data) as LiveEvent;
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (error) {
          // One page's bug must not stop the stream for the others.
          console.error('console: a live listener failed', error);
        }
      }
    }
    if (buffer.length > FRAME_CHARS_MAX) throw new Error('stream frame too large');
  }
}

/** Keeps the stream open: reconnects with the last event id after a drop, with backoff. */
export async function follow(onRefused: () => void): Promise<void> {
  for (;;) {
    const controller = new AbortController();
    try {
      await readStream(controller.signal);
      setStatus('reconnecting…', 'retry');
    } catch (error) {
      if (error instanceof StreamRefused && (error.status === 401 || error.status === 403)) {
        setStatus('not connected', 'off');
        onRefused();
        return;
      }
      setStatus(`reconnecting: ${(error as Error).message}`, 'retry');
    }
    await new Promise((resolve) => setTimeout(resolve, reconnectDelayMs));
    reconnectDelayMs = Math.min(reconnectDelayMs * 2, RECONNECT_MAX_MS);
  }
}
