/** Nearest-rank percentile of latencies already sorted ascending; 0 for an empty list. */
export function percentileMs(sortedLatenciesMs: readonly number[], percentile: number): number {
  if (sortedLatenciesMs.length === 0) return 0;
  const rank = Math.ceil((percentile / 100) * sortedLatenciesMs.length);
  const index = Math.min(sortedLatenciesMs.length - 1, Math.max(0, rank - 1));
  return sortedLatenciesMs[index] ?? 0;
}

export interface LatencySummary {
  latencyMsP50: number;
  latencyMsP99: number;
  latencyMsMax: number;
}

export function summarizeLatencies(latenciesMs: readonly number[]): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    latencyMsP50: percentileMs(sorted, 50),
    latencyMsP99: percentileMs(sorted, 99),
    latencyMsMax: sorted[sorted.length - 1] ?? 0,
  };
}

/** A plain-text table with right-aligned columns, for the terminal and for Markdown. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], markdown: boolean): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string => {
    const padded = widths.map((width, column) => (cells[column] ?? '').padStart(width));
    return markdown ? `| ${padded.join(' | ')} |` : padded.join('  ');
  };
  const separator = markdown ? `| ${widths.map((width) => '-'.repeat(Math.max(3, width - 1)) + ':').join(' | ')} |` : widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(header), separator, ...rows.map(line)].join('\n');
}
