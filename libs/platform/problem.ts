// RFC 9457 problem details. Every error a client sees has a stable snake_case `code`;
// handlers throw ApiProblem (or a DomainError) and one exception filter renders them.

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
    readonly figures: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = 'ApiProblem';
  }
}

export function problemBody(status: number, code: string, detail: string, figures: Record<string, unknown> = {}): ProblemBody {
  return {
    type: `https://paybound.dev/problems/${code}`,
    title: code.replace(/_/g, ' '),
    status,
    code,
    detail,
    ...figures,
  };
}
