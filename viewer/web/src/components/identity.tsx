// Any user, email or IP shown anywhere opens that identity's timeline in one click.
import { linkClick } from '../router.js';
import { queryString, type UserRef } from '../api.js';

export function timelineHref(kind: 'login' | 'email' | 'ip', value: string): string {
  return `/timeline${queryString({ [kind]: value })}`;
}

export function IdentityLink({ kind, value, label }: { kind: 'login' | 'email' | 'ip'; value: unknown; label?: string }) {
  if (typeof value !== 'string' || !value) return <span class="muted">—</span>;
  const href = timelineHref(kind, value);
  return (
    <a href={href} class="identity" onClick={linkClick(href)} title={`Timeline of ${value}`}>
      {label ?? value}
    </a>
  );
}

/** Name over email, each a timeline link (login for the name, when known). */
export function UserCell({ user }: { user: UserRef | undefined }) {
  if (!user || (!user.name && !user.email && !user.login)) return <span class="muted">anonymous</span>;
  return (
    <div class="user-cell">
      {user.name || user.login ? (
        user.login ? (
          <IdentityLink kind="login" value={user.login} label={user.name || user.login} />
        ) : (
          <span>{user.name}</span>
        )
      ) : null}
      {user.email && (
        <div class="sub">
          <IdentityLink kind="email" value={user.email} />
        </div>
      )}
    </div>
  );
}
