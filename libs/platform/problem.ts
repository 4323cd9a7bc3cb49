import assert from 'node:assert/strict';

// RFC 9457 problem details. Every error a client sees has a stable snake_case `code`;
// handlers throw ApiProblem (or a DomainError) and one exception filter renders them.

/** RFC 9457's members, and our `code`: a figure never takes one of these names. */
export const PROBLEM_STANDARD_MEMBERS = ['type', 'title', 'status', 'detail', 'instance', 'code'] as const;
type StandardMember = (typeof PROBLEM_STANDARD_MEMBERS)[number];

/**
 * The extra members of a problem (`field`, `limit`, `paymentId`, …). A literal that names a
 * standard member does not compile; `problemBody` asserts the same of figures built at run time.
 */
export type ProblemFigures = { readonly [figure: string]: unknown } & { readonly [member in StandardMember]?: never };

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  [figure: string]: unknown;
}

export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly figures: ProblemFigures = {},
  ) {
    super(detail);
    this.name = 'ApiProblem';
  }
}

export function problemBody(status: number, code: string, detail: string, figures: ProblemFigures = {}): ProblemBody {
  for (const member of PROBLEM_STANDARD_MEMBERS) assert(!Object.hasOwn(figures, member), `a problem figure may not be named ${member} (code ${code})`);
  return {
    type: `https://paybound.dev/problems/${code}`,
    title: code.replace(/_/g, ' '),
    status,
    code,
    detail,
    ...figures,
  };
}
