/** The event stream capability (issue #3): so far the versioned event schemas. */
export * from './events/index.ts';
