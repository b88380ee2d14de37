export { ConfigVars, type Config } from './schema.ts';
export { ConfigError, loadConfig } from './load.ts';
export { renderConfigDoc } from './doc.ts';
