// Server-Sent Events read with fetch: EventSource cannot send an Authorization header, and a
// secret in a URL ends up in logs and history.

export interface SseFrame {
  id: string;
  event: string;
  data: string;
}

/**
 * Splits what has arrived so far into complete frames and the unfinished rest. Comment lines
 * (": keep-alive") and frames without data carry nothing and are dropped.
 */
export function splitFrames(buffer: string): { frames: SseFrame[]; rest: string } {
  const frames: SseFrame[] = [];
  const normalized = buffer.replace(/\r\n?/g, '\n');
  let start = 0;
  for (let end = normalized.indexOf('\n\n', start); end !== -1; end = normalized.indexOf('\n\n', start)) {
    const frame = parseFrame(normalized.slice(start, end));
    if (frame !== undefined) frames.push(frame);
    start = end + 2;
  }
  return { frames, rest: normalized.slice(start) };
}

function parseFrame(text: string): SseFrame | undefined {
  let id = '';
  let event = 'message';
  const data: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length === 0 ? undefined : { id, event, data: data.join('\n') };
}
