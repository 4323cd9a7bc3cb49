import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartDataset } from 'chart.js';
import { api, explain } from '../api.js';
import { $, input, select } from '../dom.js';
import { bucketLabel, decimalOfMicros, dollars, microsOf, plotValue, sumDollars } from '../format.js';

// Spend over time, per hour or per day, for an org or anything under it, with its budget and
// alert thresholds drawn across; and refusals per code. Chart.js draws on canvas, which the
// page's CSP allows (no inline styles or scripts are needed).

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Legend, Tooltip);

const DAY_MS = 86_400_000;
/** Colours of the refusal codes, in order; they repeat after the last. */
const PALETTE = ['#b42318', '#b54708', '#3949ab', '#067647', '#6941c6', '#c11574', '#0e7090', '#667085'];

type Bucket = 'hour' | 'day';

interface SpendAnswer {
  bucket: Bucket;
  series: { start: string; spent: string; reserved: string; refunded: string; payments: number; refused: number }[];
  budget?: { limit: string | null; period: string } | null;
  alertThresholds?: number[];
}

interface RefusalsAnswer {
  bucket: Bucket;
  series: { start: string; byCode: Record<string, number> }[];
}

/** Drawn charts by canvas id, destroyed before their canvas is drawn again. */
const charts = new Map<string, { destroy(): void }>();

function draw(canvasId: string, config: ConstructorParameters<typeof Chart>[1]): void {
  charts.get(canvasId)?.destroy();
  charts.set(canvasId, new Chart($<HTMLCanvasElement>(canvasId), config));
}

/** The budget and each alert threshold as flat lines across the whole range. */
export function budgetLines(budget: SpendAnswer['budget'], thresholds: readonly number[], buckets: number): ChartDataset<'line', number[]>[] {
  const limitMicros = microsOf(budget?.limit ?? null);
  if (limitMicros === null || budget === undefined || budget === null) return [];
  const lines: ChartDataset<'line', number[]>[] = [
    { type: 'line', label: `budget ${dollars(budget.limit)}${budget.period === 'none' ? '' : ` per ${budget.period}`}`, data: Array<number>(buckets).fill(Number(limitMicros) / 1e6), borderColor: '#b42318', borderWidth: 2, pointRadius: 0 },
  ];
  for (const percent of [...thresholds].sort((a, b) => a - b)) {
    const atMicros = (limitMicros * BigInt(percent)) / 100n;
    lines.push({ type: 'line', label: `alert at ${percent}% (${dollars(decimalOfMicros(atMicros))})`, data: Array<number>(buckets).fill(Number(atMicros) / 1e6), borderColor: '#b54708', borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0 });
  }
  return lines;
}

function query(bucket: Bucket): string | undefined {
  const orgId = input('spend-org').value.trim();
  if (orgId === '') return undefined;
  const days = Number(select('spend-range').value);
  // Hours are served for at most 31 days; a longer range is drawn per day.
  const effective: Bucket = bucket === 'hour' && days > 31 ? 'day' : bucket;
  const to = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000);
  const from = new Date(to.getTime() - days * DAY_MS);
  const params = new URLSearchParams({ orgId, bucket: effective, from: from.toISOString(), to: to.toISOString() });
  for (const [key, id] of [['teamId', 'spend-team'], ['agentId', 'spend-agent'], ['resource', 'spend-resource']] as const) {
    const value = input(id).value.trim();
    if (value !== '') params.set(key, value);
  }
  return params.toString();
}

async function loadSpend(params: string): Promise<void> {
  const canvas = $<HTMLCanvasElement>('spend-chart');
  try {
    const answer = (await api<SpendAnswer>(`/admin/v1/spend?${params}`)).body;
    const labels = answer.series.map((point) => bucketLabel(point.start, answer.bucket));
    let cumulativeMicros = 0n;
    const cumulative = answer.series.map((point) => {
      cumulativeMicros += microsOf(point.spent) ?? 0n;
      return Number(cumulativeMicros) / 1e6;
    });
    const spent = sumDollars(answer.series.map((point) => point.spent));
    const payments = answer.series.reduce((n, point) => n + point.payments, 0);
    const refused = answer.series.reduce((n, point) => n + point.refused, 0);
    $('spend-summary').textContent = `Spent ${dollars(spent)} in ${payments} payment${payments === 1 ? '' : 's'}, ${refused} refused, over ${answer.series.length} ${answer.bucket}s${
      answer.budget?.limit ? `; budget ${dollars(answer.budget.limit)}${answer.budget.period === 'none' ? '' : ` per ${answer.budget.period}`}` : ''
    }`;
    canvas.dataset.buckets = String(answer.series.length);
    canvas.dataset.spent = spent;
    draw('spend-chart', {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { type: 'bar', label: `spent per ${answer.bucket}`, data: answer.series.map((point) => plotValue(point.spent)), backgroundColor: '#3949ab' },
          { type: 'bar', label: `reserved per ${answer.bucket}`, data: answer.series.map((point) => plotValue(point.reserved)), backgroundColor: '#a5b4fc' },
          { type: 'line', label: 'spent so far', data: cumulative, borderColor: '#067647', backgroundColor: '#067647', pointRadius: 2, tension: 0 },
          ...budgetLines(answer.budget, answer.alertThresholds ?? [], labels.length),
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, title: { display: true, text: 'USD' } } },
        plugins: { tooltip: { callbacks: { label: (item) => `${item.dataset.label ?? ''}: $${item.parsed.y ?? 0}` } } },
      },
    });
  } catch (error) {
    charts.get('spend-chart')?.destroy();
    charts.delete('spend-chart');
    canvas.dataset.buckets = '0';
    $('spend-summary').textContent = `No spend series: ${explain(error)}`;
  }
}

async function loadRefusals(params: string): Promise<void> {
  const canvas = $<HTMLCanvasElement>('refusals-chart');
  const refusalParams = new URLSearchParams(params);
  for (const key of ['teamId', 'agentId', 'resource']) refusalParams.delete(key);
  try {
    const answer = (await api<RefusalsAnswer>(`/admin/v1/refusals?${refusalParams.toString()}`)).body;
    const codes = [...new Set(answer.series.flatMap((point) => Object.keys(point.byCode)))].sort();
    const total = answer.series.reduce((n, point) => n + Object.values(point.byCode).reduce((a, b) => a + b, 0), 0);
    $('refusals-summary').textContent = total === 0 ? 'No payment refused in this range' : `${total} refused: ${codes.map((code) => `${code} ${answer.series.reduce((n, point) => n + (point.byCode[code] ?? 0), 0)}`).join(', ')}`;
    canvas.dataset.codes = codes.join(',');
    draw('refusals-chart', {
      type: 'bar',
      data: {
        labels: answer.series.map((point) => bucketLabel(point.start, answer.bucket)),
        datasets: codes.map((code, index) => ({ label: code, data: answer.series.map((point) => point.byCode[code] ?? 0), backgroundColor: PALETTE[index % PALETTE.length] })),
      },
      options: { animation: false, maintainAspectRatio: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'payments refused' } } } },
    });
  } catch (error) {
    charts.get('refusals-chart')?.destroy();
    charts.delete('refusals-chart');
    canvas.dataset.codes = '';
    $('refusals-summary').textContent = `No refusal series: ${explain(error)}`;
  }
}

export async function loadSpendPage(): Promise<void> {
  const params = query(select('spend-bucket').value as Bucket);
  if (params === undefined) {
    $('spend-summary').textContent = 'Pick an org to chart its spend.';
    return;
  }
  await Promise.all([loadSpend(params), loadRefusals(params)]);
}

export function setUpSpend(): void {
  $('spend-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void loadSpendPage();
  });
}
