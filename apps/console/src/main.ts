import './style.css';
import { ApiError, setToken } from './api.js';
import { $, input } from './dom.js';
import { follow } from './live.js';
import { loadApprovals, setUpApprovals } from './pages/approvals.js';
import { loadFrozen, setUpFreeze } from './pages/freeze.js';
import { loadOverview, setUpOverview } from './pages/overview.js';
import { loadPayment, loadPayments, setUpPayments } from './pages/payments.js';
import { loadShadowReport, setUpPolicies } from './pages/policies.js';
import { loadSpendPage, setUpSpend } from './pages/spend.js';
import { parseRoute, type Route } from './route.js';

// The operators' console. The page holds no data until the operator gives the admin token;
// then it reads the admin API with it and follows the admin event stream.

const REFUSED_TOKEN = 'That token was refused. Use the admin token from .paybound/admin-token.';
let connected = false;

/** Shows the page the hash names and loads what it needs. */
function navigate(): void {
  if (!connected) return;
  const route: Route = parseRoute(window.location.hash);
  const pageId = route.page;
  for (const page of document.querySelectorAll<HTMLElement>('main > .page')) page.hidden = page.id !== `page-${pageId}`;
  const navPage = pageId === 'payment' ? 'payments' : pageId;
  for (const anchor of document.querySelectorAll<HTMLAnchorElement>('#nav a')) anchor.classList.toggle('current', anchor.dataset.page === navPage);
  switch (route.page) {
    case 'overview':
      return;
    case 'approvals':
      void loadApprovals();
      return;
    case 'freeze':
      void loadFrozen();
      return;
    case 'policies':
      void loadShadowReport();
      return;
    case 'spend':
      void loadSpendPage();
      return;
    case 'payments':
      void loadPayments();
      return;
    case 'payment':
      void loadPayment(route.paymentId);
      return;
    default: {
      const _never: never = route;
      return _never;
    }
  }
}

function showLogin(message: string): void {
  connected = false;
  $('board').hidden = true;
  $('nav').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
}

async function connect(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  setToken(input('token').value.trim());
  $('login-error').textContent = '';
  try {
    await loadOverview();
  } catch (error) {
    showLogin(error instanceof ApiError && (error.status === 401 || error.status === 403) ? REFUSED_TOKEN : `Cannot reach Paybound: ${(error as Error).message}`);
    return;
  }
  connected = true;
  $('login').hidden = true;
  $('board').hidden = false;
  $('nav').hidden = false;
  navigate();
  void loadApprovals();
  void follow(() => showLogin(REFUSED_TOKEN));
}

window.addEventListener('DOMContentLoaded', () => {
  setUpOverview();
  setUpApprovals();
  setUpFreeze();
  setUpPolicies();
  setUpSpend();
  setUpPayments();
  $<HTMLFormElement>('login').addEventListener('submit', (event) => void connect(event));
  window.addEventListener('hashchange', navigate);
});
