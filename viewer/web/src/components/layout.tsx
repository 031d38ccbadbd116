// The frame of every signed-in page: navigation by role, the signed-in user and sign out.
import type { ComponentChildren } from 'preact';
import type { Me, Role } from '../api.js';
import { linkClick } from '../router.js';

export interface NavItem {
  path: string;
  label: string;
  roles: Role[];
}

export const NAV: NavItem[] = [
  { path: '/client-sessions', label: 'Client Sessions', roles: ['admin', 'auditor'] },
  { path: '/admin-sessions', label: 'Admin Sessions', roles: ['admin', 'auditor'] },
  { path: '/activity', label: 'Activity Log', roles: ['admin', 'auditor'] },
  { path: '/session-logs', label: 'Session Logs', roles: ['admin', 'auditor'] },
  { path: '/transfers', label: 'Transfers', roles: ['admin', 'auditor'] },
  { path: '/live', label: 'Live Sessions', roles: ['admin', 'auditor', 'security'] },
  { path: '/timeline', label: 'Timeline', roles: ['admin', 'auditor'] },
  { path: '/terminal', label: 'Terminal', roles: ['admin', 'auditor', 'security'] },
  { path: '/users', label: 'Users', roles: ['admin'] },
];

export function Layout(props: { me: Me; path: string; onSignOut: () => void; children: ComponentChildren }) {
  const role = props.me.user.role;
  return (
    <div class="shell">
      <a href="#main" class="skip">
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">
          <span class="brand-mark" aria-hidden="true" />
          Sessiongate
        </span>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => n.roles.includes(role)).map((n) => (
              <li key={n.path}>
                <a href={n.path} aria-current={props.path === n.path ? 'page' : undefined} onClick={linkClick(n.path)}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="whoami">
          <span class="who" title={props.me.user.email ?? ''}>
            {props.me.user.name} <span class={`role role-${role}`}>{role}</span>
          </span>
          <button type="button" class="btn btn-small" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </div>
  );
}

export function PageHeader(props: { title: string; subtitle?: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <div class="page-head">
      <div>
        <h1>{props.title}</h1>
        {props.subtitle && <p class="muted">{props.subtitle}</p>}
      </div>
      {props.actions && <div class="page-actions">{props.actions}</div>}
    </div>
  );
}
