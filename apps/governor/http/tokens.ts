// Injection tokens for values that are not classes.
export const GOVERNOR_CONFIG = Symbol('GOVERNOR_CONFIG');
export const LOGGER = Symbol('LOGGER');
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
