// `GET /api/events/:id` end to end: one stored event by id for the Sessions / Activity details
// view; roles, bad ids, 404, and the read recorded as an `activity` event (action `view`).
import t, { type Test } from 'tap';
import { newId } from '../gateway/core/ids.js';
import type { EventInput, SgEvent } from '../recorder/events.js';
import { httpEvent } from './fixtures/recorder-helpers.js';
import { startHarness, type Harness } from '../viewer/server/test-harness.js';

async function setup(t: Test): Promise<{ h: Harness; events: SgEvent[] }> {
  const h = await startHarness({ dir: t.testdir(), teardown: (fn) => t.teardown(fn) });
  const ts = Date.now() - 60_000;
  // Ids minted by the recorder (a fixture's newId() is process-monotonic, so may not match ts).
  const inputs: EventInput[] = [
    { ...httpEvent(ts, { realm: 'admin', url: 'https://panel.example.com/admin/clients/7', user: { name: 'Puq', login: 'puq' } }), id: undefined },
    { ts: ts + 1, type: 'session.start', session_id: 'S-1', protocol: 'ssh', account: 'root', server: { name: 'web1' }, connected_from: 'proxy', ip: '203.0.113.7' },
    { ts: ts + 2, type: 'activity', initiator: 'system', action: 'retention_prune', description: 'pruned 0 events' },
  ];
  const events = inputs.map((e) => h.recorder.emit(e)!);
  await h.recorder.flush();
  return { h, events };
}

t.test('details: found for admin and auditor, recorded as view', async (t) => {
  const { h, events } = await setup(t);
  const admin = await h.addUser('adm', 'admin');
  const aud = await h.addUser('aud', 'auditor');
  for (const u of [admin, aud]) {
    const s = await h.login(u.name, u.password);
    for (const ev of events) {
      const r = await h.call('GET', `/api/events/${ev.id}`, { session: s });
      t.equal(r.status, 200, `${u.name} ${ev.type}`);
      t.same(r.json.event, ev, 'the event as stored');
    }
  }
  const views = await h.activity('view');
  t.equal(views.length, 6, 'one view per read');
  const v = views.find((a) => a.initiator === 'aud' && a.details?.id === events[1]!.id)!;
  t.ok(v, 'the auditor read is recorded');
  t.same(v.details, { id: events[1]!.id, type: 'session.start' });
  t.same(v.targets, [{ kind: 'event', id: events[1]!.id }]);
  t.equal(v.ip, '127.0.0.1');
  t.equal(v.description, `viewed session.start event ${events[1]!.id}`);
  t.equal(v.user?.role, 'auditor');

  // The view record is itself readable by id.
  const s = await h.login(admin.name, admin.password);
  const self = await h.call('GET', `/api/events/${v.id}`, { session: s });
  t.equal(self.json.event.action, 'view');
});

t.test('details: 404, malformed ids, roles', async (t) => {
  const { h, events } = await setup(t);
  const u = await h.addUser('aud', 'auditor');
  const s = await h.login(u.name, u.password);
  const before = (await h.activity('view')).length;
  const missing = await h.call('GET', `/api/events/${newId(Date.now())}`, { session: s });
  t.equal(missing.status, 404);
  t.equal(missing.json.error.code, 'SG_ERR_NOT_FOUND');
  for (const bad of ['abc', 'x'.repeat(18), `${events[0]!.id}0`, events[0]!.id.toLowerCase(), 'ILOU0000000000000U', '%00', `${'A'.repeat(3000)}`]) {
    const r = await h.call('GET', `/api/events/${bad}`, { session: s });
    t.equal(r.status, 400, `${bad.slice(0, 24)}: status`);
    t.equal(r.json.error.code, 'SG_ERR_BAD_PARAM');
    t.equal(r.json.error.param, 'id');
  }
  const extra = await h.call('GET', `/api/events/${events[0]!.id}?full=1`, { session: s });
  t.equal(extra.status, 400, 'no query parameters');
  t.equal(extra.json.error.param, 'full');
  t.equal((await h.activity('view')).length, before, 'failed reads record no view');

  const sec = await h.addUser('sec', 'security');
  const ss = await h.login(sec.name, sec.password);
  const forbidden = await h.call('GET', `/api/events/${events[0]!.id}`, { session: ss });
  t.equal(forbidden.status, 403);
  t.equal(forbidden.json.error.code, 'SG_ERR_FORBIDDEN');
  const anon = await h.call('GET', `/api/events/${events[0]!.id}`);
  t.equal(anon.status, 401);
  t.equal(anon.json.error.code, 'SG_ERR_AUTH_REQUIRED');
  t.equal((await h.call('DELETE', `/api/events/${events[0]!.id}`, { session: s })).status, 405);
});

t.test('details: strict audit mode answers only once the view is committed', async (t) => {
  const h = await startHarness({ dir: t.testdir(), teardown: (fn) => t.teardown(fn), audit: { mode: 'strict' } });
  const ev = h.recorder.emit({ ...httpEvent(Date.now() - 1000), id: undefined })!;
  await h.recorder.flush();
  const u = await h.addUser('aud', 'auditor');
  const s = await h.login(u.name, u.password);
  const r = await h.call('GET', `/api/events/${ev.id}`, { session: s });
  t.equal(r.status, 200, r.text);
  t.ok(h.committed.some((e) => e.type === 'activity' && e.action === 'view' && e.details?.id === ev.id), 'committed before the answer');
});
