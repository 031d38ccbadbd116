// A page's filters live in its URL, so a reload, the back button and a shared link all show the
// same view.
import { navigate, useLocation } from './router.js';

export function useUrlState(defaults: Record<string, string>) {
  const loc = useLocation();
  const values: Record<string, string> = { ...defaults };
  for (const k of Object.keys(defaults)) {
    const v = loc.params.get(k);
    if (v !== null) values[k] = v;
  }
  const set = (patch: Record<string, string | undefined>) => {
    const next = new URLSearchParams(loc.params);
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined || v === '' || v === defaults[k]) next.delete(k);
      else next.set(k, v);
    }
    const s = next.toString();
    navigate(loc.path + (s ? `?${s}` : ''), true);
  };
  return [values, set] as const;
}

export function num(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}
