import assert from 'node:assert/strict';
import { ERROR_CATALOGUE, type ErrorCode } from './error-catalogue.js';

// RFC 9457 problem details. Every error a client sees has a stable snake_case `code`;
// handlers throw ApiProblem (or a DomainError) and one exception filter renders them. The
// status comes from the error catalogue, never from the throw site.

/** RFC 9457's members, and our `code`: a figure never takes one of these names. */
export const PROBLEM_STANDARD_MEMBERS = ['type', 'title', 'status', 'detail', 'instance', 'code'] as const;
type StandardMember = (typeof PROBLEM_STANDARD_MEMBERS)[number];

/**
 * The extra members of a problem (`field`, `limit`, `paymentId`, …). A literal that names a
 * standard member does not compile; `problemBody` asserts the same of figures built at run time.
 */
export type ProblemFigures = { readonly [figure: string]: unknown } & { readonly [member in StandardMember]?: never };

/**
 * Set, with the problem's code, on every problem answer of Paybound itself, and never on a
 * seller's answer that pay-and-fetch passes through (those lose every `Paybound-*` header).
 */
export const PAYBOUND_PROBLEM_HEADER = 'Paybound-Problem';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  [figure: string]: unknown;
}

export class ApiProblem extends Error {
  /** The HTTP status, from the catalogue. */
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly figures: ProblemFigures = {},
  ) {
    super(detail);
    this.name = 'ApiProblem';
    this.status = ERROR_CATALOGUE[code].httpStatus;
  }
}

export function problemBody(code: ErrorCode, detail: string, figures: ProblemFigures = {}): ProblemBody {
  for (const member of PROBLEM_STANDARD_MEMBERS) assert(!Object.hasOwn(figures, member), `a problem figure may not be named ${member} (code ${code})`);
  return {
    type: `https://paybound.dev/problems/${code}`,
    title: code.replace(/_/g, ' '),
    status: ERROR_CATALOGUE[code].httpStatus,
    code,
    detail,
    ...figures,
  };
}
