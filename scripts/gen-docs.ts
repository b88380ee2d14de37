/**
 * Writes the generated docs: docs/errors.md from the error catalog and
 * docs/configuration.md from the config schema. `npm run docs` after changing either;
 * unit tests fail when the files drift.
 */
import { writeFileSync } from 'node:fs';
import { renderConfigDoc } from '../src/core/config/index.ts';
import { renderErrorsDoc } from '../src/core/errors/index.ts';

const root = new URL('../', import.meta.url);
writeFileSync(new URL('docs/errors.md', root), renderErrorsDoc());
writeFileSync(new URL('docs/configuration.md', root), renderConfigDoc());
console.log('wrote docs/errors.md, docs/configuration.md');
