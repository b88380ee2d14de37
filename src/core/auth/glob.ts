/**
 * Channel grant patterns from the `channels` and `publish` claims. `*` matches any run of
 * characters (colons included), `?` exactly one; everything else is literal. Patterns
 * compile once per token into one RegExp.
 */
export function compileGlobs(patterns: readonly string[]): (channel: string) => boolean {
  if (patterns.length === 0) return () => false;
  if (patterns.includes('*')) return () => true;
  const source = patterns
    .map((p) =>
      p
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.'),
    )
    .join('|');
  const re = new RegExp(`^(?:${source})$`);
  return (channel) => re.test(channel);
}
