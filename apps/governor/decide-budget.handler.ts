import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { BudgetCommand } from '../../libs/domain/budget/commands.js';
import type { BudgetEvent } from '../../libs/domain/budget/events.js';
import type { OrgState } from '../../libs/domain/budget/state.js';
import type { RecordedEvent } from '../../libs/eventstore/event-store.js';
import { OrgCommandProcessor } from '../../libs/ledger/org-command-processor.js';

/** A budget command on its way to the org's single writer. */
export class DecideBudget<View = unknown> extends Command<{ events: RecordedEvent<BudgetEvent['data']>[]; view: View }> {
  constructor(
    readonly command: BudgetCommand,
    /** Reads what the caller needs from the state right after this command was decided. */
    readonly view: (state: OrgState) => View,
    readonly traceparent?: string,
  ) {
    super();
  }
}

// The one generic handler: every budget command goes read → fold → decide → append through
// the org's batching writer.
@CommandHandler(DecideBudget)
export class DecideBudgetHandler implements ICommandHandler<DecideBudget> {
  constructor(@Inject(OrgCommandProcessor) private readonly processor: OrgCommandProcessor) {}

  execute(command: DecideBudget): Promise<{ events: RecordedEvent<BudgetEvent['data']>[]; view: unknown }> {
    return this.processor.submit(command.command, command.view, command.traceparent);
  }
}
