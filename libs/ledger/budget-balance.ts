import type { BudgetPeriod } from '../domain/budget/commands.js';
import { periodKeyAt } from '../domain/budget/state.js';

// What a budget level has left, read from the `budget_balances` row the balance projection
// keeps. The row's spend counts one period (`period_key`); once the clock has moved into the
// next period that spend no longer counts, exactly as the domain decides (`spentInPeriod`).

export interface BudgetBalanceRow {
  limit_micros: string | null;
  reserved_micros: string;
  spent_micros: string;
  period: BudgetPeriod;
  period_key: string;
}

/** What was spent in the period that `now` falls in: nothing yet when a new period began. */
export function spentInCurrentPeriodMicros(row: BudgetBalanceRow, now: Date): bigint {
  return row.period_key === periodKeyAt(row.period, now.toISOString()) ? BigInt(row.spent_micros) : 0n;
}

/** The limit minus what is held and spent this period; null for a level without a limit. */
export function levelRemainingMicros(row: BudgetBalanceRow, now: Date): bigint | null {
  if (row.limit_micros === null) return null;
  return BigInt(row.limit_micros) - BigInt(row.reserved_micros) - spentInCurrentPeriodMicros(row, now);
}

/**
 * What a payment could still use: the smallest remainder over the session and every level
 * above it, never below zero (a limit lowered under what is already spent leaves nothing).
 */
export function remainingOverLevelsMicros(sessionRemainingMicros: bigint, levels: readonly BudgetBalanceRow[], now: Date): bigint {
  let remaining = sessionRemainingMicros;
  for (const level of levels) {
    const left = levelRemainingMicros(level, now);
    if (left !== null && left < remaining) remaining = left;
  }
  return remaining < 0n ? 0n : remaining;
}
