import { ConfigVars } from './schema.ts';

/** Renders docs/configuration.md from the schema; a test keeps the file in sync. */
export function renderConfigDoc(): string {
  return [
    '# Configuration',
    '',
    'Generated from `src/core/config/schema.ts` by `npm run docs`; `src/core/config/config.test.ts` keeps it in sync.',
    'Every setting is an environment variable. A bad value stops start-up with one line naming it.',
    '',
    '| variable | default | meaning |',
    '|---|---|---|',
    ...ConfigVars.map(
      (c) => `| \`${c.env}\` | ${c.default === undefined ? '—' : `\`${c.default}\``} | ${c.doc} |`,
    ),
    '',
  ].join('\n');
}
