export { ErrorCodes, type ErrorCodeKey, type ErrorDef } from './codes.ts';
export {
  BackbeatError,
  BadRequestError,
  ForbiddenError,
  InternalError,
  RateLimitedError,
  UnauthorizedError,
  UnavailableError,
  toBackbeatError,
  type BackbeatErrorOptions,
} from './errors.ts';
export { renderErrorsDoc } from './doc.ts';
export { rawErrorResponse } from './raw-http.ts';
