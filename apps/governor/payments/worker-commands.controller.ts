import { Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { z } from 'zod';
import { WORKER_ACTOR, WORKER_COMMANDS_PATH, type WorkerCommand, type WorkerCommandAnswer } from '../../../libs/settlement/worker-decisions.js';
import { Audience } from '../http/auth.guard.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { Catalog } from '../catalog/catalog.js';
import { addressField as address, caip2Field as network, parseBody } from '../http/input.js';

// The settlement worker's budget commands, decided here in the org's one writer rather than
// by a second processor in the worker: two processes writing one org stream would keep
// both off the fast path (each commit fenced on a stream the other just moved).

const id = z.string().min(1).max(128);
const instant = z.string().datetime({ offset: true });
const hash32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/);

const workerCommandBody = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RecordSignature'), orgId: id, at: instant, intentId: id, scheme: z.string().min(1).max(32), payer: address, nonce: hash32, validAfter: instant, validBefore: instant, transfer: z.enum(['eip3009', 'permit2']).optional() }).strict(),
  z
    .object({
      type: z.literal('Settle'),
      orgId: id,
      at: instant,
      intentId: id,
      amountAtomic: z.string().regex(/^[0-9]{1,78}$/, 'must be atomic units as a decimal string').transform((v) => BigInt(v)),
      network,
      transaction: hash32,
      payer: address,
    })
    .strict(),
  z
    .object({
      type: z.literal('Release'),
      orgId: id,
      at: instant,
      intentId: id,
      reason: z.string().regex(/^[a-z0-9_]{1,64}$/),
      proof: z.discriminatedUnion('kind', [z.object({ kind: z.literal('never_signed') }).strict(), z.object({ kind: z.literal('expired_unused'), chainTime: instant }).strict()]),
    })
    .strict(),
]);

@Controller()
@Audience('worker')
export class WorkerCommandsController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(Catalog) private readonly catalog: Catalog,
  ) {}

  /** Decides one of the worker's commands; a refusal is the domain's problem (409 intent_already_settled, …). */
  @Post(WORKER_COMMANDS_PATH.slice(1))
  @HttpCode(200)
  async decide(@Body() rawBody: unknown): Promise<WorkerCommandAnswer> {
    const body = parseBody(workerCommandBody, rawBody);
    // The actor is who authenticated, not what the body says.
    const command: WorkerCommand = { ...body, actor: WORKER_ACTOR };
    const { events } = await this.commands.execute(new DecideBudget(command, () => undefined));
    // A paid fetch that settled may describe its endpoint in the catalog, behind the answer.
    if (events.some((event) => event.type === 'Settled')) void this.catalog.observeSettledFetch(command.intentId);
    return { events: events.map((event) => ({ type: event.type, streamVersion: event.streamVersion })) };
  }
}
