// The kit's network helpers are the platform's own.
export { freePort, sleep } from '../platform/processes.js';
