// Where a recording is: `${recordingsDir}/YYYY/MM/DD/<id>.cast`, the day of its id first (ids
// are time-ordered), else a search of the days (a session that began just before midnight).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { idTime } from '../../gateway/core/ids.js';
import { castRelPath, SESSION_ID_RE } from './format.js';

export function findCast(recordingsDir: string, id: string): string | undefined {
  if (!SESSION_ID_RE.test(id)) return undefined;
  try {
    const guess = join(recordingsDir, castRelPath(id, idTime(id.split('.')[0]!)));
    if (existsSync(guess)) return guess;
  } catch {
    /* not a time-ordered id: search */
  }
  if (!existsSync(recordingsDir)) return undefined;
  const dirs = (p: string, re: RegExp) => readdirSync(p).filter((x) => re.test(x));
  for (const y of dirs(recordingsDir, /^\d{4}$/))
    for (const m of dirs(join(recordingsDir, y), /^\d\d$/))
      for (const d of dirs(join(recordingsDir, y, m), /^\d\d$/)) {
        const f = join(recordingsDir, y, m, d, `${id}.cast`);
        if (existsSync(f)) return f;
      }
  return undefined;
}
