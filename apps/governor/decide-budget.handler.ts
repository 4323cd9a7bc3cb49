import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { BudgetCommand } from '../../libs/domain/budget/commands.js';
import type { BudgetEvent } from '../../libs/domain/budget/events.js';
import type { OrgState } from '../../libs/domain/budget/state.js';
import type { RecordedEvent } from '../../libs/eventstore/event-store.js';
import { ObservedDecisions } from '../../libs/ledger/decision-telemetry.js';

/** A budget command on its way to the org's single writer. */
export class DecideBudget<View = unknown> extends Command<{ events: RecordedEvent<BudgetEvent['data']>[]; view: View }> {
  constructor(
    readonly command: BudgetCommand,
    /** Reads what the caller needs from the state right after this command was decided. */
    readonly view: (state: OrgState) => View,
  ) {
    super();
  }
}

// The one generic handler: every budget command goes read → fold → decide → append through
// the org's batching writer, inside a decision span that continues the request's trace.
@CommandHandler(DecideBudget)
export class DecideBudgetHandler implements ICommandHandler<DecideBudget> {
  constructor(@Inject(ObservedDecisions) private readonly decisions: ObservedDecisions) {}

  execute(command: DecideBudget): Promise<{ events: RecordedEvent<BudgetEvent['data']>[]; view: unknown }> {
    return this.decisions.submit(command.command, command.view);
  }
}
