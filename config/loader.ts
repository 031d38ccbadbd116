// The one way a config gets into the process: YAML with source positions -> zod schema ->
// semantic checks -> a complete typed Config, or a ConfigError listing every problem with its
// key and line. Nothing half-valid is ever returned.
import { readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from '../gateway/core/errors.js';
import { configSchema, type Config } from './schema.js';
import { parseYaml, type PathIssue, type SourcePos } from './yaml-source.js';
import { DEFAULT_MESSAGE, formatKey, humanizeIssue } from './issues.js';
import { checkSemantics } from './semantic.js';
import type { ConfigPath } from './schema-walk.js';

export type { Config, ConfigIssue };
export { ConfigError };

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file it came from. */
  file?: string;
  /** The directory relative paths were resolved against. */
  dir: string;
  /** Legal but risky settings (recording off, unverified JWTs, world-readable secrets...). */
  warnings: ConfigIssue[];
}

export interface ParseConfigOptions {
  /** Base for relative paths; default: the file's directory, else the working directory. */
  dir?: string;
}

/** Config files are small; this stops `check-config /dev/zero` or a wrong huge file early. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** `FILE:LINE: KEY: MESSAGE` (parts left out when unknown), the format check-config prints. */
export function formatConfigIssue(file: string | undefined, issue: ConfigIssue, severity?: 'warning'): string {
  const where = `${file ?? '<config>'}${issue.line ? `:${issue.line}` : ''}`;
  return `${where}: ${issue.key ? `${issue.key}: ` : ''}${severity ? `${severity}: ` : ''}${issue.message}`;
}

function toConfigIssue(i: PathIssue, locate?: (p: ConfigPath) => SourcePos): ConfigIssue {
  const pos = i.pos ?? locate?.(i.path);
  const out: ConfigIssue = { key: formatKey(i.path), message: i.message };
  if (pos) {
    out.line = pos.line;
    out.column = pos.column;
  }
  return out;
}

function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
}

function uniqueIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.key}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// The schema's own duplicate-name refinements only run when the rest of their object is valid;
// semantic.ts checks names on every run, so those are dropped to avoid reporting twice.
const SCHEMA_DUPLICATE = /^duplicate (route|listener) name /;

function setIn(obj: unknown, path: ConfigPath, value: unknown): void {
  let o = obj as Record<string | number, unknown>;
  for (const seg of path.slice(0, -1)) o = o[seg] as Record<string | number, unknown>;
  o[path[path.length - 1]!] = value;
}

/** Parses and validates config text. `file` names it in messages and sets the base for relative paths. */
export function parseConfigText(text: string, file?: string, opts: ParseConfigOptions = {}): LoadedConfig {
  const dir = resolve(opts.dir ?? (file ? dirname(resolve(file)) : process.cwd()));
  if (text.length > MAX_CONFIG_BYTES) throw new ConfigError('SG_ERR_CONFIG_PARSE', file, [{ key: '', message: `the file is larger than ${MAX_CONFIG_BYTES} bytes; is it really a config file?` }]);

  const parsed = parseYaml(text);
  if (!parsed.ok) throw new ConfigError('SG_ERR_CONFIG_PARSE', file, parsed.issues.map((i) => toConfigIssue(i)).sort(byPosition));
  const { data, locate } = parsed.source;

  const result = configSchema.safeParse(data, { reportInput: true, error: () => DEFAULT_MESSAGE });
  const schemaIssues = result.success ? [] : result.error.issues.filter((i) => !(i.code === 'custom' && SCHEMA_DUPLICATE.test(i.message))).flatMap((i) => humanizeIssue(i, data));
  const semantic = checkSemantics(data, dir, locate);

  const issues = uniqueIssues([...schemaIssues, ...semantic.issues].map((i) => toConfigIssue(i, locate))).sort(byPosition);
  if (issues.length || !result.success) {
    // A failed parse always carries at least one issue; the fallback keeps "never half-valid" unconditional.
    throw new ConfigError('SG_ERR_CONFIG_INVALID', file, issues.length ? issues : [{ key: '', message: 'invalid config' }]);
  }

  const config = result.data;
  for (const r of semantic.replacements) setIn(config, r.path, r.value);
  const warnings = semantic.warnings.map((w) => toConfigIssue(w, locate)).sort(byPosition);
  return { config, ...(file ? { file: resolve(file) } : {}), dir, warnings };
}

/** Strict UTF-8 decoding; a bad byte is reported with its line. */
function decode(buf: Buffer, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    let line = 1;
    const dec = new TextDecoder('utf-8', { fatal: true });
    let start = 0;
    for (let i = 0; i <= buf.length; i++) {
      if (i === buf.length || buf[i] === 0x0a) {
        try {
          dec.decode(buf.subarray(start, i));
        } catch {
          break;
        }
        line++;
        start = i + 1;
      }
    }
    throw new ConfigError('SG_ERR_CONFIG_PARSE', file, [{ key: '', line, column: 1, message: 'the file is not valid UTF-8 text' }]);
  }
}

function notFound(file: string, e: unknown): ConfigError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' || code === 'ENOTDIR'
      ? 'config file not found'
      : code === 'EACCES' || code === 'EPERM'
        ? 'config file cannot be read (permission denied)'
        : code === 'EISDIR'
          ? 'is a directory, not a config file'
          : `config file cannot be read (${code ?? (e instanceof Error ? e.message : String(e))})`;
  return new ConfigError('SG_ERR_CONFIG_NOT_FOUND', file, [{ key: '', message: why }], e);
}

function checkStat(file: string, st: { isFile(): boolean; isDirectory(): boolean; size: number }): void {
  if (st.isDirectory()) throw notFound(file, Object.assign(new Error('EISDIR'), { code: 'EISDIR' }));
  if (!st.isFile()) throw new ConfigError('SG_ERR_CONFIG_NOT_FOUND', file, [{ key: '', message: 'is not a regular file' }]);
  if (st.size > MAX_CONFIG_BYTES) throw new ConfigError('SG_ERR_CONFIG_PARSE', file, [{ key: '', message: `the file is larger than ${MAX_CONFIG_BYTES} bytes; is it really a config file?` }]);
}

export function loadConfigSync(file: string): LoadedConfig {
  let buf: Buffer;
  try {
    checkStat(file, statSync(file));
    buf = readFileSync(file);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw notFound(file, e);
  }
  return parseConfigText(decode(buf, file), file);
}

export async function loadConfig(file: string): Promise<LoadedConfig> {
  let buf: Buffer;
  try {
    checkStat(file, await stat(file));
    buf = await readFile(file);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw notFound(file, e);
  }
  return parseConfigText(decode(buf, file), file);
}
