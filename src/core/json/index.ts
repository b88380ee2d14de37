export { DEFAULT_MAX_JSON_DEPTH, depthError, exceedsJsonDepth } from './bounds.ts';
