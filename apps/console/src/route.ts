// Hash routes: the governor serves one page, and the hash picks what it shows.

export type Route =
  | { page: 'overview' }
  | { page: 'approvals' }
  | { page: 'freeze' }
  | { page: 'policies' }
  | { page: 'spend' }
  | { page: 'payments' }
  | { page: 'payment'; paymentId: string };

const PAYMENT_ID_CHARS_MAX = 200;

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '').replace(/\/+$/, '');
  const payment = /^payments\/(.+)$/.exec(path);
  if (payment !== null) {
    let paymentId: string;
    try {
      paymentId = decodeURIComponent(payment[1]!);
    } catch {
      return { page: 'payments' };
    }
    return paymentId.length > 0 && paymentId.length <= PAYMENT_ID_CHARS_MAX ? { page: 'payment', paymentId } : { page: 'payments' };
  }
  switch (path) {
    case 'approvals':
    case 'freeze':
    case 'policies':
    case 'spend':
    case 'payments':
      return { page: path };
    default:
      return { page: 'overview' };
  }
}
