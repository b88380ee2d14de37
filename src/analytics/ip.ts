import { isIPv4, isIPv6 } from 'node:net';

/**
 * Truncates an IP address before analytics keeps anything of it (SPEC §7): IPv4 to its
 * /24 (`203.0.113.77` → `203.0.113.0/24`), IPv6 to its /48 (`2001:db8:1:2::1` →
 * `2001:db8:1::/48`). An IPv4-mapped IPv6 address (`::ffff:203.0.113.77`) is treated as
 * the IPv4 address it carries. Anything that is not an IP address gives `undefined`, so a
 * malformed or free-text value is never stored.
 */
export function truncateIp(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 64) return undefined;
  let ip = value.trim();
  // A zone index (`fe80::1%eth0`) names a local interface: not part of the network.
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) ip = mapped[1]!;
  if (isIPv4(ip)) {
    const [a, b, c] = ip.split('.');
    return `${Number(a)}.${Number(b)}.${Number(c)}.0/24`;
  }
  if (isIPv6(ip)) {
    const groups = expandIpv6(ip);
    return groups
      ? `${groups
          .slice(0, 3)
          .map((g) => g.toString(16))
          .join(':')}::/48`
      : undefined;
  }
  return undefined;
}

/** The eight 16-bit groups of a valid IPv6 address (an embedded IPv4 tail included). */
function expandIpv6(ip: string): number[] | undefined {
  // An embedded IPv4 tail (`64:ff9b::192.0.2.1`) becomes its two hex groups.
  const text = ip.replace(
    /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/,
    (_m, a: string, b: string, c: string, d: string) =>
      `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`,
  );
  const [head, rest, extra] = text.split('::');
  if (extra !== undefined) return undefined;
  const parse = (s: string) =>
    s === '' ? [] : s.split(':').map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN));
  const left = parse(head!);
  const right = rest === undefined ? [] : parse(rest);
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (rest === undefined && missing !== 0)) return undefined;
  const groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  return groups.every((g) => Number.isInteger(g)) ? groups : undefined;
}
