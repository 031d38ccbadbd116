// The export file formats on their own: CSV (RFC 4180, formula-injection guard, fixed columns
// per kind, UTF-8), NDJSON (the event exactly), and the syslog messages (RFC 5424 with
// octet-counting framing), fed with hostile recorded values.
import t from 'tap';
import fc from 'fast-check';
import { columnsOf, EXPORT_KINDS } from '../recorder/export/columns.js';
import { csvCell, encoderFor, ndjsonLine } from '../recorder/export/formats.js';
import { parseFrames, sdValue, SyslogFormatter } from '../recorder/export/forward/syslog-format.js';
import { parseCsv } from './helpers/export.js';
import type { ActivityEvent, HttpRequestEvent, SessionEndEvent, SessionStartEvent } from '../recorder/events.js';
import { httpEvent } from './fixtures/recorder-helpers.js';

const hostile = [
  'plain',
  'with "quotes" inside',
  'comma, separated',
  'line\nbreak',
  'cr\rreturn',
  'crlf\r\nboth',
  '=cmd|" /C calc"!A0',
  '+1+1',
  '-2+3',
  '@SUM(A1:A2)',
  '\tTAB first',
  '\rCR first',
  'Grüße ✓ 🚀 日本語',
  '\u2028line sep\u2029',
  '',
  ' leading space',
  '"',
  '""',
  ',',
];

function request(url: string, over: Partial<HttpRequestEvent> = {}): HttpRequestEvent {
  return httpEvent(Date.UTC(2025, 9, 27, 21, 13, 37, 123), {
    id: '01JC0000000000000A',
    realm: 'admin',
    route: 'admin',
    method: 'POST',
    url,
    bytes_in: 1,
    bytes_out: 2,
    duration_ms: 3.5,
    action: 'update',
    ip: '10.0.0.1',
    client: 'Acme, "Ltd"',
    user: { name: '=HYPERLINK("http://evil")', email: 'a@example.com', login: 'a' },
    user_agent: 'Mozilla\r\n=evil',
    ...over,
  });
}

t.test('csvCell: quoting and the formula guard', async (t) => {
  t.equal(csvCell('plain'), 'plain');
  t.equal(csvCell('a"b'), '"a""b"');
  t.equal(csvCell('a,b'), '"a,b"');
  t.equal(csvCell('a\nb'), '"a\nb"');
  t.equal(csvCell('=1+1'), "'=1+1");
  t.equal(csvCell('+1'), "'+1");
  t.equal(csvCell('-1'), "'-1", 'text starting with - is guarded');
  t.equal(csvCell('@x'), "'@x");
  t.equal(csvCell('\tx'), "'\tx");
  t.equal(csvCell('\rx'), `"'\rx"`, 'guarded, then quoted for the CR');
  t.equal(csvCell('=a,"b"'), `"'=a,""b"""`);
  t.equal(csvCell(-5), '-5', 'numbers are literal, never guarded');
  t.equal(csvCell(3.25), '3.25');
  t.equal(csvCell(Number.NaN), '');
  t.equal(csvCell(true), 'true');
  t.equal(csvCell(undefined), '');
});

t.test('hostile values survive a CSV round trip, guarded and intact otherwise', async (t) => {
  const enc = encoderFor('requests', 'csv');
  const cols = columnsOf('requests').map((c) => c.name);
  let text = enc.head();
  for (const h of hostile) text += enc.item(request(h, { client: h }));
  const rows = parseCsv(text);
  t.same(rows[0], cols, 'header row: the fixed columns');
  t.same(cols.slice(0, 8), ['date', 'client', 'user', 'email', 'ip', 'url', 'type', 'method'], 'the seed columns first (000/001)');
  t.equal(rows.length, hostile.length + 1);
  const urlAt = cols.indexOf('url');
  const clientAt = cols.indexOf('client');
  hostile.forEach((h, i) => {
    const guarded = /^[=+\-@\t\r]/.test(h) ? `'${h}` : h;
    t.equal(rows[i + 1]![urlAt], guarded, `hostile value #${i}`);
    t.equal(rows[i + 1]![clientAt], guarded);
    t.ok(rows[i + 1]!.every((c) => !/^[=+\-@\t\r]/.test(c)), 'no cell a spreadsheet would run as a formula');
  });
  const row = rows[1]!;
  t.equal(row[cols.indexOf('date')], '2025-10-27T21:13:37.123Z');
  t.equal(row[cols.indexOf('user')], `'=HYPERLINK("http://evil")`);
  t.equal(row[cols.indexOf('user_agent')], 'Mozilla\r\n=evil', 'not at the start: kept as is (inside quotes)');
  t.equal(row[cols.indexOf('id')], '01JC0000000000000A', 'the event id, always last');
  t.equal(cols[cols.length - 1], 'id');
  t.equal(Buffer.from(text, 'utf8').toString('utf8'), text, 'valid UTF-8');
});

t.test('property: any string is one field after a round trip', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 6 }), (cells) => {
      const line = cells.map(csvCell).join(',') + '\r\n';
      const [row] = parseCsv(line);
      return row!.length === cells.length && row!.every((c, i) => c === (/^[=+\-@\t\r]/.test(cells[i]!) ? `'${cells[i]}` : cells[i]));
    }),
    { numRuns: 500 },
  );
  t.pass('500 random rows');
});

t.test('every kind has fixed columns, the seed ones first, id last', async (t) => {
  for (const k of EXPORT_KINDS) {
    const cols = columnsOf(k).map((c) => c.name);
    t.equal(new Set(cols).size, cols.length, `${k}: no duplicate column`);
    t.ok(cols.includes('id') || (cols.includes('start_id') && cols.includes('end_id')), `${k}: traceable to the store`);
  }
  t.same(
    columnsOf('sessions').slice(0, 14).map((c) => c.name),
    ['no', 'action_at', 'name', 'email', 'role', 'account', 'server_name', 'server_os', 'host', 'port', 'protocol', 'client_ip', 'client_name', 'connected_from'],
    'seed 003 columns, in its order',
  );
  t.same(columnsOf('activity').slice(0, 6).map((c) => c.name), ['date', 'ip', 'initiator', 'email', 'action', 'description'], 'seed 002 columns');
});

t.test('sessions: a merged row and lone start/end events use the same columns', async (t) => {
  const start: SessionStartEvent & { seq: number } = {
    id: '01JC0000000000001A', ts: 1000, type: 'session.start', session_id: 's1', protocol: 'ssh', connected_from: 'proxy', account: 'root',
    server: { name: 'db1', os: 'Linux', host: '10.1.1.1', port: 22 }, client_name: 'SSH-2.0-OpenSSH_9.2p1', ip: '1.2.3.4', user: { name: 'Ann', email: 'ann@example.com' }, seq: 7,
  };
  const end: SessionEndEvent = { id: '01JC0000000000002A', ts: 5000, type: 'session.end', session_id: 's1', protocol: 'ssh', reason: 'terminated', terminated_by: 'sec', duration_ms: 4000, ip: '1.2.3.4' };
  const enc = encoderFor('sessions', 'csv');
  const cols = columnsOf('sessions').map((c) => c.name);
  const [, merged, lone1, lone2] = parseCsv(enc.head() + enc.item({ seq: 7, session_id: 's1', start, end }) + enc.item(start) + enc.item(end));
  const at = (r: string[] | undefined, c: string) => r![cols.indexOf(c)];
  t.equal(at(merged, 'no'), '7');
  t.equal(at(merged, 'server_os'), 'Linux');
  t.equal(at(merged, 'end_reason'), 'terminated');
  t.equal(at(lone1, 'no'), '7', 'a start event keeps its seq');
  t.equal(at(lone1, 'end_reason'), '');
  t.equal(at(lone2, 'end_reason'), 'terminated');
  t.equal(at(lone2, 'client_ip'), '1.2.3.4');
  t.equal(at(lone2, 'session_id'), 's1');
});

t.test('NDJSON: one line per event, the event exactly', async (t) => {
  const evs = hostile.map((h, i) => request(h, { id: `01JC00000000000${String(i).padStart(2, '0')}A`, details: undefined } as Partial<HttpRequestEvent>));
  const text = evs.map(ndjsonLine).join('');
  const lines = text.split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  t.equal(lines.length, evs.length, 'no value spans two lines (U+2028/2029 escaped too)');
  t.same(lines.map((l) => JSON.parse(l)), JSON.parse(JSON.stringify(evs)));
  t.notOk(/[\u2028\u2029]/.test(text));
});

t.test('syslog: RFC 5424 with octet counting; hostile values stay inside their frame', async (t) => {
  const act: ActivityEvent = {
    id: '01JC0000000000003A', ts: Date.UTC(2025, 0, 2, 3, 4, 5, 6), type: 'activity', initiator: 'ali"ce]', action: 'lock', description: 'locked\n1.2.3.4 ✓',
    targets: [{ kind: 'ip', id: '1.2.3.4' }], details: { why: 'x]y"z\\' },
  };
  const req = request('https://p/x?a=1\n<13>1 - fake frame');
  for (const format of ['json', 'structured'] as const) {
    const f = new SyslogFormatter({ facility: 13, appName: 'sessiongate', format, hostname: 'gw 1' });
    const frames = f.frames([act, req]);
    const { messages, rest } = parseFrames(Buffer.concat([frames, Buffer.from('12 partial')]));
    t.equal(messages.length, 2, `${format}: two frames`);
    t.equal(rest.toString(), '12 partial', 'an incomplete frame is left over');
    const [a, r] = messages as [string, string];
    t.match(a, /^<109>1 2025-01-02T03:04:05\.006Z gw1 sessiongate \d+ activity \[sessiongate@32473 /, 'PRI 13*8+5 (notice), timestamp, host without spaces, MSGID = type');
    t.match(r, /^<110>1 /, 'info for requests');
    t.ok(a.includes('id="01JC0000000000003A"'), 'the event id in structured data');
    if (format === 'json') {
      const msg = a.slice(a.indexOf('\ufeff') + 1);
      t.same(JSON.parse(msg), act, 'MSG: the event as JSON after a BOM');
    } else {
      t.ok(a.includes('initiator="ali\\"ce\\]"'), 'SD values escape " and ]');
      t.ok(a.includes(`details.why="x\\]y\\"z\\\\"`), 'and backslash');
    }
  }
  t.equal(sdValue('a"b]c\\d'), 'a\\"b\\]c\\\\d');
  t.throws(() => parseFrames(Buffer.from('0 x')), /bad frame length/);
});
