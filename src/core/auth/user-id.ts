/**
 * The one definition of a user id. `user:<id>` is the user's inbox channel, so an id is
 * exactly what SPEC §3 allows as a channel name: 1-128 of `[A-Za-z0-9_.@=:-]`, colons
 * inside only (a trailing colon would make `user:<id>` an invalid channel). Token `sub`,
 * event `userId`, every `/v1/users/{id}` route and the inbox all use this.
 */
export const USER_ID_PATTERN = '^(?=.{1,128}$)[A-Za-z0-9_.@=:-]*[A-Za-z0-9_.@=-]$';
export const USER_ID_RULE = "1-128 of [A-Za-z0-9_.@=:-], not ending with ':'";
const USER_ID_RE = new RegExp(USER_ID_PATTERN);

export function isUserId(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 128 && USER_ID_RE.test(v);
}
