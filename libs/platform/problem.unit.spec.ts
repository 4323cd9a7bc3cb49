import { AssertionError } from 'node:assert';
import { describe, expect, it } from 'vitest';
import { ApiProblem, PROBLEM_STANDARD_MEMBERS, problemBody } from './problem.js';

describe('problem bodies', () => {
  it('take their status from the catalogue', () => {
    expect(new ApiProblem('payment_already_used', 'x').status).toBe(409);
    expect(problemBody('upstream_timeout', 'late', { paymentId: 'pay_1' })).toEqual({
      type: 'https://paybound.dev/problems/upstream_timeout',
      title: 'upstream timeout',
      status: 504,
      code: 'upstream_timeout',
      detail: 'late',
      paymentId: 'pay_1',
    });
  });

  it('refuse a figure named like a standard member: at compile time for a literal, by assertion for one built at run time', () => {
    // @ts-expect-error: `status` is RFC 9457's number, never a figure.
    expect(() => problemBody('payment_already_used', 'x', { paymentId: 'pay_1', status: 'signed' })).toThrow(AssertionError);
    for (const member of PROBLEM_STANDARD_MEMBERS) {
      const figures: Record<string, unknown> = { paymentId: 'pay_1', [member]: 'shadow' };
      expect(() => problemBody('payment_already_used', 'x', figures)).toThrow(`a problem figure may not be named ${member}`);
    }
  });
});
