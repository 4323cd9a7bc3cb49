// Processes and folders the HTTP and relay benches start, stopped in reverse order by
// run.ts's `finally` and SIGINT handler, so that an interrupted or failing run leaves no
// governor, worker, anvil or Kafka broker behind. Each stop function stops one thing by
// its own handle (child PID), never by name.

type Stop = () => Promise<void>;

const stops: { label: string; stop: Stop }[] = [];

/** Registers `stop`; returns a function that runs it now (once) and unregisters it. */
export function registerCleanup(label: string, stop: Stop): () => Promise<void> {
  const entry = { label, stop };
  stops.push(entry);
  return async () => {
    const index = stops.indexOf(entry);
    if (index === -1) return;
    stops.splice(index, 1);
    await stop();
  };
}

export async function runAllCleanups(): Promise<void> {
  while (stops.length > 0) {
    const entry = stops.pop()!;
    await entry.stop().catch((error: unknown) => console.error(`cleanup of ${entry.label} failed:`, error));
  }
}
