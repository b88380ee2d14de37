export { backwardProblems, type JsonSchema } from './compat.ts';
export { fillDefaults, IncompatibleSchemaError, SchemaRegistry, type Upgrade } from './registry.ts';
export { MUSIC_EVENTS_V1, musicEventRegistry } from './music.ts';
export { decodeEvent, parseEvent, type ParseEventContext, type StreamEvent } from './envelope.ts';
