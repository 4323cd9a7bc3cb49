import { describe, expect, it } from 'vitest';
import { levelRemainingMicros, remainingOverLevelsMicros, spentInCurrentPeriodMicros, type BudgetBalanceRow } from './budget-balance.js';

const dayBudget: BudgetBalanceRow = { limit_micros: '1000000', reserved_micros: '100000', spent_micros: '300000', period: 'day', period_key: '2026-12-06' };

describe('budget balance read from the projection', () => {
  it('counts the spend of the day it was made, and none of it the next day', () => {
    expect(spentInCurrentPeriodMicros(dayBudget, new Date('2026-12-06T23:59:59.999Z'))).toBe(300_000n);
    expect(spentInCurrentPeriodMicros(dayBudget, new Date('2026-12-07T00:00:00.000Z'))).toBe(0n);
    expect(levelRemainingMicros(dayBudget, new Date('2026-12-06T12:00:00.000Z'))).toBe(600_000n);
    expect(levelRemainingMicros(dayBudget, new Date('2026-12-07T12:00:00.000Z'))).toBe(900_000n);
  });

  it('counts a month budget per UTC month and a budget without a period for ever', () => {
    const month: BudgetBalanceRow = { ...dayBudget, period: 'month', period_key: '2026-11' };
    expect(spentInCurrentPeriodMicros(month, new Date('2026-11-30T23:00:00.000Z'))).toBe(300_000n);
    expect(spentInCurrentPeriodMicros(month, new Date('2026-12-01T00:00:00.000Z'))).toBe(0n);
    const allTime: BudgetBalanceRow = { ...dayBudget, period: 'none', period_key: '' };
    expect(spentInCurrentPeriodMicros(allTime, new Date('2030-01-01T00:00:00.000Z'))).toBe(300_000n);
  });

  it('has no remainder to report for a level without a limit', () => {
    expect(levelRemainingMicros({ ...dayBudget, limit_micros: null }, new Date('2026-12-06T12:00:00.000Z'))).toBeNull();
  });

  it('reports the smallest remainder over the session and every level above it, never below zero', () => {
    const now = new Date('2026-12-06T12:00:00.000Z');
    const org: BudgetBalanceRow = { limit_micros: '20000', reserved_micros: '0', spent_micros: '0', period: 'none', period_key: '' };
    expect(remainingOverLevelsMicros(999_999_999_999_000_000n, [org, dayBudget], now)).toBe(20_000n);
    expect(remainingOverLevelsMicros(5_000n, [org, dayBudget], now)).toBe(5_000n);
    expect(remainingOverLevelsMicros(5_000n, [{ ...org, spent_micros: '30000' }], now)).toBe(0n);
    expect(remainingOverLevelsMicros(5_000n, [{ ...org, limit_micros: null }], now)).toBe(5_000n);
  });
});
