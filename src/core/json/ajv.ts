import { Ajv, type Options } from 'ajv';

/**
 * The project's JSON Schema validators: one ajv configuration (`createAjv`) and the ways
 * the project validates with it. Schemas are the project's own TypeBox schemas.
 *
 * - `commandAjv`: WebSocket commands (gateway/protocol). First error only (each frame is
 *   on the hot path and one reason is what the client gets), no coercion, no defaults.
 * - `eventAjv`: versioned event schemas (streaming/events/registry). Every error, so a
 *   rejected event names each invalid field; the data is already bounded by the body
 *   limit and MAX_JSON_DEPTH before it gets here.
 * - `createHttpAjv()`: Fastify's validator compiler (http/server.ts), one per server, as
 *   ajv keeps every schema it compiles and a server's route schemas should go with it.
 *   Query strings and params are strings on the wire, so types are coerced (`'array'`:
 *   `?a=1` is `[1]` for an array), `default`s are filled, unknown properties are refused
 *   rather than silently removed, first error only (ajv's advice against allErrors on
 *   untrusted input), and ajv's default strict schema mode, so a keyword ajv does not
 *   know (a typo, a `format` with no implementation: ajv-formats is not loaded) fails when
 *   the route is compiled instead of validating nothing.
 */
export function createAjv(options: Options = {}): Ajv {
  return new Ajv({
    strict: false,
    allErrors: false,
    coerceTypes: false,
    useDefaults: false,
    // A schema is compiled where it is declared; never add it to the instance's registry
    // (two routes may share a schema object with the same $id).
    addUsedSchema: false,
    ...options,
  });
}

export const commandAjv = createAjv();

export const eventAjv = createAjv({ allErrors: true });

export const createHttpAjv = (): Ajv =>
  createAjv({
    // ajv's defaults (what Fastify's own compiler used): unknown keywords and formats throw.
    strictSchema: true,
    strictNumbers: true,
    strictTypes: 'log',
    strictTuples: 'log',
    coerceTypes: 'array',
    useDefaults: true,
    removeAdditional: false,
  });
