// Panel logins -> who they are (name, email, organisation, type), from the config's directory.
// Built once; a lookup is one Map get and returns a shared frozen record.
import type { DirectoryEntry } from '../../../config/schema.js';

export interface DirectoryRecord {
  name?: string;
  email?: string;
  client?: string;
  type?: string;
}

interface Slot {
  any?: DirectoryRecord;
  byRealm?: Map<string, DirectoryRecord>;
}

export class Directory {
  private readonly byLogin = new Map<string, Slot>();

  constructor(entries: readonly DirectoryEntry[] = []) {
    for (const e of entries) {
      const rec: DirectoryRecord = {};
      if (e.name) rec.name = e.name;
      if (e.email) rec.email = e.email;
      if (e.client) rec.client = e.client;
      if (e.type) rec.type = e.type;
      Object.freeze(rec);
      const key = e.login.trim().toLowerCase();
      let slot = this.byLogin.get(key);
      if (!slot) this.byLogin.set(key, (slot = {}));
      // The first entry for a login (and realm) wins, like the first matching route.
      if (e.realm === undefined) slot.any ??= rec;
      else {
        slot.byRealm ??= new Map();
        if (!slot.byRealm.has(e.realm)) slot.byRealm.set(e.realm, rec);
      }
    }
  }

  get size(): number {
    return this.byLogin.size;
  }

  /** The entry for this login in this realm, else the realm-less one; login case-insensitive. */
  lookup(login: string, realm: string): DirectoryRecord | undefined {
    if (typeof login !== 'string' || login.length === 0 || this.byLogin.size === 0) return undefined;
    const slot = this.byLogin.get(login.trim().toLowerCase());
    if (!slot) return undefined;
    return slot.byRealm?.get(realm) ?? slot.any;
  }
}
