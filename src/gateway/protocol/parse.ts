import type { ErrorObject, ValidateFunction } from 'ajv';
import { CommandSchemas, type Command, type CommandType } from './schema.ts';
import { commandAjv, DEFAULT_MAX_JSON_DEPTH, depthError, exceedsJsonDepth } from '../../core/json/index.ts';
import { channelError, isValidChannel } from './channel.ts';

const validators = Object.fromEntries(
  Object.entries(CommandSchemas).map(([k, s]) => [k, commandAjv.compile(s)]),
) as Record<CommandType, ValidateFunction>;

export type ParseResult =
  | { ok: true; cmd: Command }
  /** `id` is set when the frame had a usable id, so the error reply can carry it. */
  | { ok: false; id: number | undefined; type: string | undefined; message: string; tooDeep?: true };

function describe(err: ErrorObject | undefined): string {
  if (!err) return 'invalid command';
  const field = err.instancePath
    ? err.instancePath.slice(1).replaceAll('/', '.')
    : (err.params as { missingProperty?: string }).missingProperty;
  if (err.keyword === 'required') return `missing field ${field}`;
  return `${field ?? 'command'} ${err.message ?? 'is invalid'}`;
}

/**
 * Turns one text frame into a typed command, or a precise reason it is not one.
 * Never throws: every input maps to a command or a 4400 reason. A frame nesting deeper
 * than `maxDepth` (MAX_JSON_DEPTH) is refused here, before any recursive code sees it.
 */
export function parseCommand(text: string, maxDepth: number = DEFAULT_MAX_JSON_DEPTH): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, id: undefined, type: undefined, message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, id: undefined, type: undefined, message: 'frame must be a JSON object' };
  }
  const obj = value as Record<string, unknown>;
  const id = Number.isSafeInteger(obj['id']) && (obj['id'] as number) > 0 ? (obj['id'] as number) : undefined;
  if (id === undefined) {
    return { ok: false, id: undefined, type: undefined, message: 'command id must be a positive integer' };
  }
  const type = obj['type'];
  if (exceedsJsonDepth(obj, maxDepth)) {
    return {
      ok: false,
      id,
      type: typeof type === 'string' && Object.hasOwn(validators, type) ? type : undefined,
      message: depthError('frame', maxDepth),
      tooDeep: true,
    };
  }
  if (typeof type !== 'string' || !Object.hasOwn(validators, type)) {
    return {
      ok: false,
      id,
      type: undefined,
      message: `unknown command type ${JSON.stringify(type)?.slice(0, 64)}`,
    };
  }
  const validate = validators[type as CommandType];
  if (!validate(obj)) return { ok: false, id, type, message: describe(validate.errors?.[0]) };
  if ('channel' in obj && !isValidChannel(obj['channel']))
    return { ok: false, id, type, message: channelError(obj['channel']) };
  return { ok: true, cmd: obj as Command };
}
