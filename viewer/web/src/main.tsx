// The viewer app: asks who is signed in, shows the sign-in page or the page of the current path,
// and goes back to sign-in whenever the server says the session has ended.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { onSessionEnd, signOut, whoAmI, describeError, type Me, type Role } from './api.js';
import { Layout, NAV } from './components/layout.js';
import { ErrorBox, Loading } from './components/states.js';
import { ActivityLog } from './pages/activity.js';
import { LiveSessions } from './pages/live.js';
import { PanelRequests } from './pages/panel-requests.js';
import { SessionReplay } from './pages/replay.js';
import { SessionLog } from './pages/session-log.js';
import { OPEN_SESSION_PATH, sessionPageOf } from './components/session-info.js';
import { OpenSession } from './pages/open-session.js';
import { SessionLogs } from './pages/session-logs.js';
import { SignIn } from './pages/sign-in.js';
import { Timeline } from './pages/timeline.js';
import { Transfers } from './pages/transfers.js';
import { WebTerminal } from './pages/terminal.js';
import { Users } from './pages/users.js';
import { navigate, useLocation } from './router.js';
import './styles.css';

function home(role: Role): string {
  return role === 'security' ? '/live' : '/admin-sessions';
}

const TITLES: Record<string, string> = Object.fromEntries(NAV.map((n) => [n.path, n.label]));

/** The navigation entry a path belongs to (a session's playback and log are part of Session Logs). */
function navPathOf(path: string): string {
  return sessionPageOf(path) || path === OPEN_SESSION_PATH ? '/session-logs' : path;
}

function Page({ path, me }: { path: string; me: Me }) {
  const nav = NAV.find((n) => n.path === navPathOf(path));
  if (nav && !nav.roles.includes(me.user.role)) {
    return <ErrorBox message={`The ${me.user.role} role cannot open ${nav.label}.`} />;
  }
  const session = sessionPageOf(path);
  if (session?.page === 'replay') return <SessionReplay key={session.startId} me={me} startId={session.startId} />;
  if (session?.page === 'log') return <SessionLog key={session.startId} me={me} startId={session.startId} />;
  if (path === OPEN_SESSION_PATH) return <OpenSession />;
  switch (path) {
    case '/client-sessions':
      return <PanelRequests key="client" realm="client" me={me} />;
    case '/admin-sessions':
      return <PanelRequests key="admin" realm="admin" me={me} />;
    case '/activity':
      return <ActivityLog me={me} />;
    case '/session-logs':
      return <SessionLogs me={me} />;
    case '/transfers':
      return <Transfers me={me} />;
    case '/live':
      return <LiveSessions me={me} />;
    case '/timeline':
      return <Timeline me={me} />;
    case '/terminal':
      return <WebTerminal me={me} />;
    case '/users':
      return <Users me={me} />;
    default:
      return <ErrorBox message="There is no such page." />;
  }
}

function App() {
  const loc = useLocation();
  const [me, setMe] = useState<Me | undefined | null>(null);
  const [fatal, setFatal] = useState('');
  const [message, setMessage] = useState<string | undefined>();

  useEffect(() => {
    onSessionEnd((why) => {
      setMe(undefined);
      setMessage(why);
    });
    whoAmI().then(setMe, (e) => setFatal(describeError(e)));
  }, []);

  useEffect(() => {
    if (me && (loc.path === '/' || loc.path === '/login')) navigate(home(me.user.role), true);
  }, [me, loc.path]);

  useEffect(() => {
    const page = sessionPageOf(loc.path)?.page;
    const title = page === 'replay' ? 'Session playback' : page === 'log' ? 'Session commands and transfers' : TITLES[loc.path];
    document.title = me ? `${title ?? 'Sessiongate'} · Sessiongate` : 'Sign in · Sessiongate';
  }, [me, loc.path]);

  if (fatal) return <ErrorBox message={fatal} onRetry={() => location.reload()} />;
  if (me === null) return <Loading label="Starting…" />;
  if (!me)
    return (
      <SignIn
        message={message}
        onSignedIn={(m) => {
          setMessage(undefined);
          setMe(m);
        }}
      />
    );
  return (
    <Layout
      me={me}
      path={navPathOf(loc.path)}
      onSignOut={async () => {
        await signOut().catch(() => {});
        setMe(undefined);
        setMessage('You have signed out.');
      }}
    >
      <Page path={loc.path} me={me} />
    </Layout>
  );
}

render(<App />, document.getElementById('app')!);
