// How the store's LMDB environment and its databases are opened: shared by the Store (main
// thread) and its writer thread, which open the same environment (lmdb-js shares one native
// environment per path within a process).

export const ENV_FILE = 'data.mdb';
export const LOCK_FILE = 'data.mdb-lock';
export const MAX_DBS = 64;

/** How every database in the environment is opened; another reader of the files must use the
 * same (plain msgpack maps decoded as objects: ~12% faster to write than msgpackr records and
 * no shared-structure state that a rolled-back transaction could leave out of step). */
export const DB_OPTIONS = { encoding: 'msgpack', compression: false, useRecords: false, mapsAsObjects: true } as const;

/** Options for `open()` of the root environment at `path`. */
export function rootOptions(path: string, readOnly: boolean, mapSize: number | undefined): Record<string, unknown> & { path: string } {
  return {
    path,
    ...DB_OPTIONS,
    maxDbs: MAX_DBS,
    readOnly,
    ...(mapSize ? { mapSize } : {}),
    // Files are created 0600 (DESIGN: data files 0600 in 0700 directories).
    permissionsMode: 0o600,
  };
}
