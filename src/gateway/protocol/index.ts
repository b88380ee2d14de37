export { CHANNEL_PATTERN, channelError, isValidChannel } from './channel.ts';
export { parseCommand, type ParseResult } from './parse.ts';
export {
  COMMAND_TYPES,
  CommandSchemas,
  Position,
  type Command,
  type CommandOf,
  type CommandType,
} from './schema.ts';
