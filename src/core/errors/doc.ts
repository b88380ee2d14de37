import { ErrorCodes } from './codes.ts';

/** Renders docs/errors.md from the catalog; doc.test.ts fails when the file drifts. */
export function renderErrorsDoc(): string {
  const rows = Object.entries(ErrorCodes).map(
    ([key, d]) =>
      `| \`${d.name}\` | ${d.ws} | ${d.http} | ${d.retriable ? 'yes' : 'no'} | ${d.message} | \`${key}\` |`,
  );
  return [
    '# Errors',
    '',
    'Generated from `src/core/errors/codes.ts` by `npm run docs`; `src/core/errors/doc.test.ts` keeps it in sync.',
    '',
    'WebSocket error replies are `{"id":n,"type":"error","code":WS,"message":"…"}` and the same',
    'WS codes are used as close codes. HTTP errors are `{"error":{"code":NAME,"message":"…"}}`',
    'with the HTTP status below. `retriable` tells a client whether the same request may succeed later.',
    '',
    '| name | WS code | HTTP | retriable | default message | catalog key |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
