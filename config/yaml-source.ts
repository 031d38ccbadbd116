// YAML text -> plain data, keeping the parsed document so every later problem can be pointed
// at its line. Anything YAML allows but a config must not contain (duplicate keys, several
// documents, tags, self-referencing aliases, non-text keys) is a parse problem here, so the
// schema only ever sees plain JSON-like data.
import { parseDocument, LineCounter, visit, isAlias, isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import type { ConfigPath, PathSeg } from './schema-walk.js';

export interface SourcePos {
  line: number;
  column: number;
}

/** A problem with a config path (formatted into a ConfigIssue key) and a position. */
export interface PathIssue {
  path: ConfigPath;
  message: string;
  pos?: SourcePos;
}

export interface YamlSource {
  /** The document as plain data; an empty document is `{}`. */
  data: unknown;
  /** Position of the node at `path`, or of its nearest existing parent when the path is missing. */
  locate(path: ConfigPath): SourcePos;
}

export type YamlParseResult = { ok: true; source: YamlSource } | { ok: false; issues: PathIssue[] };

const TAG_PREFIX = 'tag:yaml.org,2002:';

function keyText(key: unknown): string | undefined {
  if (key === null || key === undefined) return '';
  if (isScalar(key)) return key.value === null ? '' : String(key.value);
  return undefined;
}

function shortTag(tag: string): string {
  return tag.startsWith(TAG_PREFIX) ? `!!${tag.slice(TAG_PREFIX.length)}` : tag;
}

/** Follows aliases to the node they name (bounded: an alias may name another alias). */
function deref(doc: Document, node: unknown): unknown {
  for (let i = 0; i < 64 && isAlias(node); i++) node = node.resolve(doc);
  return node;
}

function makeLocator(doc: Document, lc: LineCounter, text: string) {
  // Errors at the very end (an unclosed bracket) point at the last character, not a line after the file.
  const last = Math.max(0, text.replace(/\s+$/, '').length - 1);
  const posAt = (offset: number): SourcePos => {
    const p = lc.linePos(Math.min(offset, last));
    return { line: p.line, column: p.col };
  };
  const rootPos = (): SourcePos => {
    const c = doc.contents as Node | null;
    return c?.range ? posAt(c.range[0]) : { line: 1, column: 1 };
  };

  const locate = (path: ConfigPath): SourcePos => {
    let node: unknown = doc.contents;
    let pos = rootPos();
    for (const seg of path) {
      node = deref(doc, node);
      if (isMap(node)) {
        const pair = node.items.find((p) => keyText(p.key) === String(seg));
        if (!pair) return pos;
        const k = pair.key as Node | null;
        if (k?.range) pos = posAt(k.range[0]);
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (!item) return pos;
        if (item.range) pos = posAt(item.range[0]);
        node = item;
      } else {
        return pos;
      }
    }
    return pos;
  };

  /** The config path of the deepest key or item containing `offset` (best effort, for parse errors). */
  const pathAt = (offset: number): PathSeg[] => {
    const path: PathSeg[] = [];
    const range = (n: unknown) => (n as Node | null)?.range;
    const within = (n: unknown): boolean => {
      const r = range(n);
      return !!r && offset >= r[0] && offset < r[2];
    };
    // A pair spans from its key to the end of its value (a tag or anchor sits between them).
    const pairWithin = (key: unknown, value: unknown): boolean => {
      const start = range(key)?.[0] ?? range(value)?.[0];
      const end = range(value)?.[2] ?? range(key)?.[2];
      return start !== undefined && end !== undefined && offset >= start && offset < end;
    };
    let node: unknown = doc.contents;
    // Config keys are never deeper than this; it also keeps keys of nonsense input short.
    for (let depth = 0; depth < 16; depth++) {
      if (isMap(node)) {
        const pair = node.items.find((p) => pairWithin(p.key, p.value));
        const k = pair && keyText(pair.key);
        if (!pair || k === undefined) break;
        path.push(k);
        if (!within(pair.value)) break;
        node = pair.value;
      } else if (isSeq(node)) {
        const i = node.items.findIndex((it) => within(it));
        if (i < 0) break;
        path.push(i);
        node = node.items[i];
      } else break;
    }
    return path;
  };

  return { posAt, locate, pathAt };
}

const PARSE_MESSAGES: Record<string, (path: PathSeg[]) => string> = {
  DUPLICATE_KEY: (path) => `duplicate key ${JSON.stringify(String(path[path.length - 1] ?? ''))} (a key may appear only once in a mapping)`,
  MULTIPLE_DOCS: () => 'more than one YAML document in the file ("---"): a config is one document',
};

/** Parses config YAML. Never throws: problems come back as issues with positions. */
export function parseYaml(text: string): YamlParseResult {
  try {
    return parse(text);
  } catch (e) {
    // Pathological input (nesting deep enough to exhaust the stack) must still be a config error.
    const msg = e instanceof RangeError ? 'the YAML is nested too deeply' : `the YAML could not be read (${e instanceof Error ? e.message : String(e)})`;
    return { ok: false, issues: [{ path: [], message: msg }] };
  }
}

function parse(text: string): YamlParseResult {
  const lc = new LineCounter();
  // resolveKnownTags: false makes !!binary, !!set, !!omap, !!timestamp "unresolved" (reported below)
  // instead of turning into Buffer/Set/Map/Date objects that a schema could half-accept.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, resolveKnownTags: false, logLevel: 'error' });
  const loc = makeLocator(doc, lc, text);
  const issues: PathIssue[] = [];

  for (const e of [...doc.errors, ...doc.warnings]) {
    const path = e.code === 'MULTIPLE_DOCS' ? [] : loc.pathAt(e.pos[0]);
    const custom = PARSE_MESSAGES[e.code];
    let message = custom ? custom(path) : e.message;
    if (/maximum call stack/i.test(message)) message = 'the YAML is nested too deeply';
    if (e.code === 'TAG_RESOLVE_FAILED') message = `unsupported YAML tag ${shortTag(/tag: (\S+)/.exec(e.message)?.[1] ?? '')} (a config holds only plain strings, numbers, booleans, lists and mappings)`;
    issues.push({ path, message: message.split('\n')[0]!, pos: loc.posAt(e.pos[0]) });
  }

  if (issues.length === 0) {
    const at = (n: Node | null | undefined, message: string): void => {
      const offset = n?.range?.[0];
      issues.push(offset === undefined ? { path: [], message } : { path: loc.pathAt(offset), message, pos: loc.posAt(offset) });
    };
    visit(doc, {
      Pair(_k, pair) {
        if (keyText(pair.key) === undefined) at(pair.key as Node | null, 'mapping keys must be plain text (not lists, mappings or aliases)');
      },
      Alias(_k, alias, ancestors) {
        const target = alias.resolve(doc);
        if (!target) at(alias, `unknown alias "*${alias.source}" (its anchor "&${alias.source}" must be defined before it is used)`);
        else if (ancestors.includes(target as never)) at(alias, `alias "*${alias.source}" refers to a mapping or list that contains it`);
      },
    });
  }
  if (issues.length) return { ok: false, issues: dedupe(issues) };

  let data: unknown;
  try {
    // The alias limit stops "billion laughs" documents from expanding without bound.
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    let pos: SourcePos | undefined;
    visit(doc, {
      Alias(_k, a) {
        if (a.range) pos = loc.posAt(a.range[0]);
        return visit.BREAK;
      },
    });
    const msg = e instanceof Error ? e.message : String(e);
    return { ok: false, issues: [{ path: [], message: /alias/i.test(msg) ? 'too many alias expansions (YAML "billion laughs" protection)' : msg, pos }] };
  }
  if (data === null || data === undefined) data = {};
  const odd = findNonPlain(data, []);
  if (odd) return { ok: false, issues: [{ path: odd, message: 'unsupported YAML value (only strings, numbers, booleans, null, lists and mappings)', pos: loc.locate(odd) }] };
  return { ok: true, source: { data, locate: loc.locate } };
}

/** Safety net: the schema must only see JSON-like values. */
function findNonPlain(v: unknown, path: PathSeg[]): PathSeg[] | undefined {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = findNonPlain(v[i], [...path, i]);
      if (r) return r;
    }
    return undefined;
  }
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v)) {
      const r = findNonPlain(x, [...path, k]);
      if (r) return r;
    }
    return undefined;
  }
  return path;
}

function dedupe(issues: PathIssue[]): PathIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.pos?.line}:${i.path.join('.')}:${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
