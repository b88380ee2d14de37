export { DEFAULT_MAX_JSON_DEPTH, depthError, exceedsJsonDepth } from './bounds.ts';
export { commandAjv, createAjv, createHttpAjv, eventAjv } from './ajv.ts';
