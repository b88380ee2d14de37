/** Number formatting for the dashboard ("–" for unknown). */
const DASH = '–';
const int = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });

export function fmtInt(v: number | null | undefined): string {
  return v === undefined || v === null ? DASH : int.format(v);
}

/** Few significant digits: 0.0123 → "0.012", 4.56 → "4.56", 45.6 → "45.6", 4567 → "4,567". */
export function fmtNum(v: number | null | undefined): string {
  if (v === undefined || v === null) return DASH;
  const a = Math.abs(v);
  if (a >= 100 || Number.isInteger(v)) return int.format(v);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

export function fmtMs(v: number | null | undefined): string {
  return v === undefined || v === null ? DASH : `${fmtNum(v)} ms`;
}

/** A rate in [0, 1] as a percentage. */
export function fmtRate(v: number | null | undefined): string {
  return v === undefined || v === null ? DASH : `${fmtNum(v * 100)} %`;
}

export function fmtTime(ms: number | undefined): string {
  if (ms === undefined) return DASH;
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "3 min ago", "2 h ago". */
export function fmtAgo(ms: number | undefined, now: number): string {
  if (ms === undefined) return '';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}
