/** The event stream capability (issue #3): versioned event schemas and the event log. */
export * from './events/index.ts';
export * from './log/index.ts';
