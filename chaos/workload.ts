import { Agent, fetch, type Response } from 'undici';

import { Random } from './random.js';
import type { SellerKind } from './topology.js';

// The agents of the chaos run: a seeded, randomized workload over many orgs, teams, agents
// and sessions, through the public HTTP API only (behind the round-robin proxy). Agents behave
// as careful runtimes do: every spending call carries an Idempotency-Key and is retried with
// the same key when the answer is lost (a governor killed mid-request, a frozen database).
// What the API answered is recorded, for the checker to hold against the log and the chain.

export interface WorkloadOptions {
  seed: number;
  /** Payment requests with distinct Idempotency-Keys to issue. */
  intents: number;
  orgs: number;
  /** Requests in flight at once, at most. */
  concurrency: number;
  /** Stops issuing new requests once this much time has passed, whatever the count. */
  deadlineMs: number;
}

export interface Endpoints {
  governorUrl: string;
  adminToken: string;
  sellers: ReadonlyMap<SellerKind, { dataUrl: string; priceAtomic: bigint }>;
}

type Period = 'none' | 'day' | 'month';

interface AgentPlan {
  orgId: string;
  agentId: string;
  teamId: string | null;
  apiKey: string;
  /** Lowered when the agent or its team or org ran out, so most traffic goes where money is left. */
  weight: number;
  session: { id: string; payments: number; usefulFor: number } | undefined;
  sessionSeq: number;
}

interface OrgPlan {
  orgId: string;
  limitMicros: bigint | null;
  topUps: number;
}

/** What the API answered to one logical request (all its attempts), as an agent saw it. */
export interface ApiRecord {
  key: string;
  kind: ActionKind;
  orgId: string;
  status: number;
  code: string | null;
  paymentId: string | null;
  attempts: number;
  /** For pay-and-fetch: the seller's PAYMENT-RESPONSE said it settled, and the governor answered 2xx. */
  paidPerSeller: boolean;
  /** Set on a repeat: the paymentId of the first request with the same key. */
  repeatOf: string | null;
}

export type ActionKind = 'fetch' | 'sign_send_report' | 'sign_report_failure' | 'sign_abandon' | 'sign_send_no_report';

export interface WorkloadFigures {
  issued: number;
  requests: number;
  attempts: number;
  retried: number;
  transportErrors: number;
  repeats: number;
  concurrentDuplicates: number;
  bursts: number;
  sessionsOpened: number;
  topUps: number;
  byKind: Record<string, number>;
  byStatus: Record<string, number>;
  byCode: Record<string, number>;
  agents: number;
  teams: number;
  orgs: number;
  policies: number;
  durationMs: number;
}

const REQUEST_TIMEOUT_MS = 45_000;
const ATTEMPTS_MAX = 6;
const RETRY_BASE_MS = 300;
/** Answers that mean "not decided, try again" rather than an answer to keep. */
const RETRY_CODES = new Set(['overloaded', 'not_ready', 'internal', 'internal_error']);
const SESSION_ENDING_CODES = new Set(['session_limit_exceeded', 'session_expired', 'session_closed']);
const EXHAUSTION_CODES = new Set(['agent_limit_exceeded', 'team_limit_exceeded', 'org_limit_exceeded']);
/** The average price the budgets are sized against (USD micros). */
const TYPICAL_PRICE_MICROS = 15_000n;

export class Workload {
  private readonly random: Random;
  private readonly client = new Agent({ connections: 96, keepAliveTimeout: 4_000, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
  private readonly agents: AgentPlan[] = [];
  private readonly orgs: OrgPlan[] = [];
  readonly records: ApiRecord[] = [];
  private keySeq = 0;
  private urlSeq = 0;
  private stopped = false;
  private startedAtMs = 0;
  readonly figures: WorkloadFigures = {
    issued: 0,
    requests: 0,
    attempts: 0,
    retried: 0,
    transportErrors: 0,
    repeats: 0,
    concurrentDuplicates: 0,
    bursts: 0,
    sessionsOpened: 0,
    topUps: 0,
    byKind: {},
    byStatus: {},
    byCode: {},
    agents: 0,
    teams: 0,
    orgs: 0,
    policies: 0,
    durationMs: 0,
  };

  constructor(
    private readonly options: WorkloadOptions,
    private readonly endpoints: Endpoints,
    private readonly log: (line: string) => void,
  ) {
    this.random = new Random(options.seed).fork('workload');
  }

  /** Payment requests issued so far (distinct keys): the clock the fault schedule runs on. */
  get issued(): number {
    return this.figures.issued;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Creates the orgs, teams, agents, budgets and policies through the admin API. */
  async setUp(): Promise<void> {
    const random = this.random.fork('setup');
    const perOrgMicros = (BigInt(Math.ceil(this.options.intents / this.options.orgs)) * TYPICAL_PRICE_MICROS * 6n) / 10n;
    const scaled = (low: number, high: number): bigint => (perOrgMicros * BigInt(Math.round((low + random.next() * (high - low)) * 1000))) / 1000n;
    for (let o = 0; o < this.options.orgs; o++) {
      const orgId = `org-${String(o + 1).padStart(3, '0')}`;
      // Most orgs have a limit that the run can reach; some have none.
      const orgLimit = random.chance(0.2) ? null : scaled(0.25, 1.4);
      await this.admin('POST', '/admin/v1/orgs', { id: orgId, name: `Org ${o + 1}`, limit: usd(orgLimit) });
      this.orgs.push({ orgId, limitMicros: orgLimit, topUps: 0 });
      this.figures.orgs += 1;
      if (random.chance(0.3)) {
        await this.admin('PUT', `/admin/v1/orgs/${orgId}/budget`, { limit: usd(orgLimit ?? scaled(0.5, 1.5)), period: 'month' satisfies Period });
      }
      if (random.chance(0.4)) {
        // Refuses the premium seller's price: a policy refusal, recorded as LimitExceeded.
        await this.admin('PUT', `/admin/v1/orgs/${orgId}/policy`, { maxPerPayment: '0.04' });
        this.figures.policies += 1;
      }
      const teams: string[] = [];
      const teamCount = random.int(0, 2);
      for (let t = 0; t < teamCount; t++) {
        const teamId = `team-${o + 1}-${t + 1}`;
        await this.admin('POST', `/admin/v1/orgs/${orgId}/teams`, { id: teamId, name: teamId, limit: random.chance(0.5) ? null : usd(scaled(0.15, 0.7)) });
        teams.push(teamId);
        this.figures.teams += 1;
        if (random.chance(0.3)) {
          // The same URL paid for over and over is refused as a loop.
          await this.admin('PUT', `/admin/v1/orgs/${orgId}/teams/${teamId}/policy`, { loopGuard: { maxPayments: 3, windowSeconds: 60 } });
          this.figures.policies += 1;
        }
      }
      const agentCount = random.int(3, 7);
      for (let a = 0; a < agentCount; a++) {
        const agentId = `agent-${o + 1}-${a + 1}`;
        const teamId = teams.length > 0 && random.chance(0.75) ? random.pick(teams) : null;
        const agentLimit = random.chance(0.4) ? null : scaled(0.05, 0.4);
        const created = await this.admin<{ apiKey: string }>('POST', `/admin/v1/orgs/${orgId}/agents`, { id: agentId, name: agentId, teamId, limit: usd(agentLimit) });
        if (agentLimit !== null && random.chance(0.3)) {
          await this.admin('PUT', `/admin/v1/orgs/${orgId}/agents/${agentId}/budget`, { limit: usd(agentLimit), period: 'day' satisfies Period });
        }
        if (random.chance(0.2)) {
          await this.admin('PUT', `/admin/v1/orgs/${orgId}/agents/${agentId}/policy`, { maxPaymentsPerMinutePerSession: 40 });
          this.figures.policies += 1;
        }
        this.agents.push({ orgId, agentId, teamId, apiKey: created.apiKey, weight: 1, session: undefined, sessionSeq: 0 });
        this.figures.agents += 1;
      }
    }
    this.log(`workload: ${this.figures.orgs} orgs, ${this.figures.teams} teams, ${this.figures.agents} agents, ${this.figures.policies} policies`);
  }

  /** Issues payment requests until the target count or the deadline, `concurrency` at a time. */
  async run(onProgress: (issued: number) => void): Promise<void> {
    this.startedAtMs = Date.now();
    const lanes = Array.from({ length: this.options.concurrency }, (_, lane) => this.lane(this.random.fork(`lane-${lane}`), onProgress));
    await Promise.all(lanes);
    this.figures.durationMs = Date.now() - this.startedAtMs;
    await this.client.close();
  }

  private more(): boolean {
    return !this.stopped && this.figures.issued < this.options.intents && Date.now() - this.startedAtMs < this.options.deadlineMs;
  }

  private async lane(random: Random, onProgress: (issued: number) => void): Promise<void> {
    while (this.more()) {
      const agent = this.pickAgent(random);
      const shape = random.weighted({ single: 80, repeat: 8, duplicate: 4, burst: 6, topUp: 2 });
      if (shape === 'topUp') {
        await this.topUp(random);
        continue;
      }
      const session = await this.currentSession(agent, random);
      if (session === undefined) continue;
      if (shape === 'burst') {
        // Concurrent payments at one session, each its own intent.
        this.figures.bursts += 1;
        const size = random.int(6, 16);
        await Promise.all(Array.from({ length: size }, () => this.pay(agent, session, random.fork(`b${this.keySeq}`), this.nextKey(), null)));
      } else if (shape === 'duplicate') {
        // The same request twice at once, with one key: one intent, one answer.
        this.figures.concurrentDuplicates += 1;
        const key = this.nextKey();
        const plan = this.planPayment(random);
        await Promise.all([this.pay(agent, session, random, key, null, plan), this.pay(agent, session, random, key, null, plan, false)]);
      } else {
        const key = this.nextKey();
        const plan = this.planPayment(random);
        const first = await this.pay(agent, session, random, key, null, plan);
        if (shape === 'repeat') {
          this.figures.repeats += 1;
          await this.pay(agent, session, random, key, first?.paymentId ?? null, plan, false);
        }
      }
      onProgress(this.figures.issued);
    }
  }

  private nextKey(): string {
    this.keySeq += 1;
    return `chaos-${this.options.seed}-${this.keySeq}`;
  }

  private pickAgent(random: Random): AgentPlan {
    const total = this.agents.reduce((sum, a) => sum + a.weight, 0);
    let roll = random.next() * total;
    for (const agent of this.agents) {
      roll -= agent.weight;
      if (roll < 0) return agent;
    }
    return this.agents[this.agents.length - 1]!;
  }

  private planPayment(random: Random): { kind: ActionKind; seller: SellerKind; url: string } {
    const kind = random.weighted<ActionKind>({ fetch: 55, sign_send_report: 25, sign_report_failure: 7, sign_abandon: 7, sign_send_no_report: 6 });
    const seller =
      kind === 'fetch'
        ? random.weighted<SellerKind>({ normal: 62, premium: 10, fail_502_before: 5, fail_502_after: 5, hang_before: 4, hang_after: 4, late: 10 })
        : random.weighted<SellerKind>({ normal: 75, premium: 15, late: 10 });
    const base = this.endpoints.sellers.get(seller)!.dataUrl;
    // Mostly a new URL each time; sometimes the same one again, which loop guards refuse.
    this.urlSeq += 1;
    const url = random.chance(0.1) ? `${base}?q=same` : `${base}?q=${this.urlSeq}`;
    return { kind, seller, url };
  }

  private async currentSession(agent: AgentPlan, random: Random): Promise<{ id: string } | undefined> {
    const session = agent.session;
    if (session !== undefined && session.payments < session.usefulFor) return session;
    agent.sessionSeq += 1;
    const limitMicros = BigInt(random.int(5, 60)) * 10_000n;
    const body = { limit: usd(limitMicros), expiresInMinutes: 240, ...(random.chance(0.2) ? { maxPayments: random.int(3, 30) } : {}) };
    const answer = await this.send('POST', '/v1/sessions', agent.apiKey, body, `session-${agent.agentId}-${agent.sessionSeq}-${this.options.seed}`);
    if (answer === undefined || answer.status !== 201) return undefined;
    const id = (answer.body as { id?: string }).id;
    if (id === undefined) return undefined;
    this.figures.sessionsOpened += 1;
    agent.session = { id, payments: 0, usefulFor: random.int(4, 60) };
    return agent.session;
  }

  /**
   * One payment request (a first one, or a repeat of `key`), and what an agent does after it:
   * sends the signed header to the seller and reports the answer, reports a failure, or
   * abandons the payment.
   */
  private async pay(
    agent: AgentPlan,
    session: { id: string },
    random: Random,
    key: string,
    repeatOf: string | null,
    plan = this.planPayment(random),
    counts = true,
  ): Promise<ApiRecord | undefined> {
    if (counts) this.figures.issued += 1;
    this.figures.requests += 1;
    this.figures.byKind[plan.kind] = (this.figures.byKind[plan.kind] ?? 0) + 1;
    let answer: Answer | undefined;
    let header: { name: string; value: string } | undefined;
    if (plan.kind === 'fetch') {
      answer = await this.send('POST', `/v1/sessions/${session.id}/fetch`, agent.apiKey, { url: plan.url }, key);
    } else {
      const offer = await this.unpaid(plan.url);
      if (offer === undefined) return undefined;
      answer = await this.send('POST', `/v1/sessions/${session.id}/payments`, agent.apiKey, { paymentRequired: offer, url: plan.url }, key);
      const body = answer?.body as { id?: string; header?: { name: string; value: string } | null } | undefined;
      header = body?.header ?? undefined;
      if (answer?.status === 202 && body?.id !== undefined && plan.kind !== 'sign_abandon') header = await this.pollHeader(agent, body.id);
    }
    if (answer === undefined) return undefined;
    const body = answer.body as { id?: string; code?: string; paymentId?: string } | undefined;
    const code = answer.status >= 400 ? (body?.code ?? `http_${answer.status}`) : null;
    const paymentId = answer.headers.get('paybound-payment-id') ?? body?.paymentId ?? (plan.kind === 'fetch' ? null : (body?.id ?? null));
    const record: ApiRecord = {
      key,
      kind: plan.kind,
      orgId: agent.orgId,
      status: answer.status,
      code,
      paymentId,
      attempts: answer.attempts,
      paidPerSeller: plan.kind === 'fetch' && answer.status < 300 && sellerSaysSettled(answer.headers),
      repeatOf,
    };
    this.records.push(record);
    this.figures.byStatus[answer.status] = (this.figures.byStatus[answer.status] ?? 0) + 1;
    if (code !== null) this.figures.byCode[code] = (this.figures.byCode[code] ?? 0) + 1;
    if (code !== null && SESSION_ENDING_CODES.has(code)) agent.session = undefined;
    else if (agent.session !== undefined) agent.session.payments += 1;
    if (code !== null && EXHAUSTION_CODES.has(code)) agent.weight = Math.max(0.05, agent.weight / 2);

    if (repeatOf === null && paymentId !== null && header !== undefined && plan.kind !== 'fetch') {
      await this.afterSigning(agent, plan, paymentId, header);
    }
    return record;
  }

  private async afterSigning(agent: AgentPlan, plan: { kind: ActionKind; url: string }, paymentId: string, header: { name: string; value: string }): Promise<void> {
    switch (plan.kind) {
      case 'sign_send_report':
      case 'sign_send_no_report': {
        const seller = await this.sendToSeller(plan.url, header);
        if (plan.kind === 'sign_send_report') {
          await this.send('POST', `/v1/payments/${paymentId}/result`, agent.apiKey, seller === undefined ? { status: 504 } : { status: seller.status, ...(seller.paymentResponse === undefined ? {} : { paymentResponse: seller.paymentResponse }) }, undefined);
        }
        return;
      }
      case 'sign_report_failure':
        // The runtime never sent it, and says the call failed: nothing may be released early.
        await this.send('POST', `/v1/payments/${paymentId}/result`, agent.apiKey, { status: 500 }, undefined);
        return;
      case 'sign_abandon':
      case 'fetch':
        return;
      default: {
        const _never: never = plan.kind;
        return;
      }
    }
  }

  private async pollHeader(agent: AgentPlan, paymentId: string): Promise<{ name: string; value: string } | undefined> {
    for (let i = 0; i < 20; i++) {
      await sleep(500);
      const answer = await this.send('GET', `/v1/payments/${paymentId}`, agent.apiKey, undefined, undefined);
      const body = answer?.body as { status?: string; header?: { name: string; value: string } | null } | undefined;
      if (body?.header != null) return body.header;
      if (body?.status !== undefined && body.status !== 'reserved') return undefined;
    }
    return undefined;
  }

  /** The seller's 402 offer for `url`: the PAYMENT-REQUIRED header. */
  private async unpaid(url: string): Promise<string | undefined> {
    try {
      const response = await fetch(url, { dispatcher: this.client, signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
      return response.status === 402 ? (response.headers.get('payment-required') ?? undefined) : undefined;
    } catch {
      return undefined;
    }
  }

  private async sendToSeller(url: string, header: { name: string; value: string }): Promise<{ status: number; paymentResponse: string | undefined } | undefined> {
    try {
      const response = await fetch(url, { headers: { [header.name]: header.value }, dispatcher: this.client, signal: AbortSignal.timeout(15_000) });
      await response.arrayBuffer();
      return { status: response.status, paymentResponse: response.headers.get('payment-response') ?? undefined };
    } catch {
      return undefined;
    }
  }

  private async topUp(random: Random): Promise<void> {
    const org = random.pick(this.orgs);
    if (org.limitMicros === null) return;
    // Budgets only ever grow here, so a lower limit can never make a past decision look like overspend.
    const raised = org.limitMicros + org.limitMicros / 4n + 1_000_000n;
    const answer = await this.send('PUT', `/admin/v1/orgs/${org.orgId}/budget`, this.endpoints.adminToken, { limit: usd(raised), period: 'none' }, undefined);
    if (answer?.status === 200) {
      org.limitMicros = raised;
      org.topUps += 1;
      this.figures.topUps += 1;
      for (const agent of this.agents) if (agent.orgId === org.orgId) agent.weight = 1;
    }
  }

  private async admin<T = Record<string, unknown>>(method: string, path: string, body: unknown): Promise<T> {
    const answer = await this.send(method, path, this.endpoints.adminToken, body, undefined);
    if (answer === undefined || answer.status >= 300) throw new Error(`setup ${method} ${path}: ${answer?.status ?? 'no answer'} ${JSON.stringify(answer?.body)}`);
    return answer.body as T;
  }

  /**
   * One call with retries: a lost answer (connection refused or reset, timeout) or a 503 that
   * says "not decided" is sent again with the same Idempotency-Key, with backoff.
   */
  private async send(method: string, path: string, token: string, body: unknown, idempotencyKey: string | undefined): Promise<Answer | undefined> {
    for (let attempt = 1; attempt <= ATTEMPTS_MAX; attempt++) {
      this.figures.attempts += 1;
      if (attempt > 1) this.figures.retried += 1;
      let response: Response;
      try {
        response = await fetch(`${this.endpoints.governorUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          dispatcher: this.client,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch {
        this.figures.transportErrors += 1;
        await sleep(RETRY_BASE_MS * 2 ** (attempt - 1) * (0.5 + Math.random()));
        continue;
      }
      let parsed: unknown;
      try {
        const text = await response.text();
        parsed = text === '' ? {} : (JSON.parse(text) as unknown);
      } catch {
        this.figures.transportErrors += 1;
        await sleep(RETRY_BASE_MS * 2 ** (attempt - 1));
        continue;
      }
      const code = (parsed as { code?: unknown }).code;
      const retryable = response.status === 503 && typeof code === 'string' && RETRY_CODES.has(code);
      if ((retryable || response.status === 500) && attempt < ATTEMPTS_MAX) {
        await sleep(RETRY_BASE_MS * 2 ** (attempt - 1) * (0.5 + Math.random()));
        continue;
      }
      return { status: response.status, body: parsed, headers: response.headers, attempts: attempt };
    }
    return undefined;
  }
}

interface Answer {
  status: number;
  body: unknown;
  headers: Headers | import('undici').Headers;
  attempts: number;
}

function sellerSaysSettled(headers: Answer['headers']): boolean {
  const value = headers.get('payment-response');
  if (value === null) return false;
  try {
    return (JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as { success?: unknown }).success === true;
  } catch {
    return false;
  }
}

/** USD micros as the API's decimal string; null stays null (no limit). */
export function usd(micros: bigint | null): string | null {
  if (micros === null) return null;
  const whole = micros / 1_000_000n;
  const fraction = (micros % 1_000_000n).toString().padStart(6, '0');
  return `${whole}.${fraction}`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
