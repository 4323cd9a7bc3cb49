/**
 * Partitions of the events topic. Events are keyed by org, so one org's events stay in order
 * in one partition; 12 lets up to 12 consumers of a group (settlement workers, FinOps) share
 * the load. The relay creates the topic with it and the worker consumes that many at once.
 */
export const EVENTS_TOPIC_PARTITIONS = 12;
