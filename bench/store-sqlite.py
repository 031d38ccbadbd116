#!/usr/bin/env python3
"""SQLite anchor for `npm run bench -- store` (bench/store.ts runs it).

  store-sqlite.py load DB CSV BATCH     -> one JSON line: rows, seconds, rows_per_s, bytes, bytes_per_row
  store-sqlite.py query DB QUERIES.json -> one JSON line per query: shape, i, ms, ids (first page)

The same rows as the Sessiongate store (CSV written by the bench), one table with the request
columns, an external-content FTS5 table with the trigram tokenizer over the keyword columns
(client, user name, email, login, ip, url: the store's keyword fields, substring and
case-insensitive like the store's keyword search), and single-column indexes on ts, login,
email, ip, method, source and realm. Rows are inserted in transactions of BATCH rows; only the
inserts and commits are timed (CSV parsing is not). Queries: first page of 50, ts DESC, every
column of its rows fetched (the store's first page is whole events, not ids).
"""
import csv
import json
import os
import sqlite3
import sys
import time

COLUMNS = ['id', 'ts', 'realm', 'source', 'method', 'url', 'status', 'bytes_in', 'bytes_out', 'duration_ms',
           'user_agent', 'action', 'ip', 'client', 'user_name', 'email', 'login']
KEYWORD = ['client', 'user_name', 'email', 'login', 'ip', 'url']
INTS = {'ts', 'status', 'bytes_in', 'bytes_out'}


def schema(db):
    db.executescript(f"""
    PRAGMA journal_mode=WAL;
    PRAGMA synchronous=NORMAL;
    CREATE TABLE requests (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL, realm TEXT,
      source TEXT, method TEXT, url TEXT, status INTEGER, bytes_in INTEGER, bytes_out INTEGER, duration_ms REAL,
      user_agent TEXT, action TEXT, ip TEXT, client TEXT, user_name TEXT, email TEXT, login TEXT);
    CREATE VIRTUAL TABLE requests_fts USING fts5({', '.join(KEYWORD)}, content='requests', content_rowid='rowid',
      tokenize='trigram');
    CREATE INDEX requests_ts ON requests(ts);
    CREATE INDEX requests_login ON requests(login);
    CREATE INDEX requests_email ON requests(email);
    CREATE INDEX requests_ip ON requests(ip);
    CREATE INDEX requests_method ON requests(method);
    CREATE INDEX requests_source ON requests(source);
    CREATE INDEX requests_realm ON requests(realm);
    """)


def load(path, csv_path, batch):
    if os.path.exists(path):
        os.unlink(path)
    db = sqlite3.connect(path, isolation_level=None)
    schema(db)
    ins = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    fts = f"INSERT INTO requests_fts (rowid, {', '.join(KEYWORD)}) VALUES (?, {', '.join('?' * len(KEYWORD))})"
    kw_idx = [COLUMNS.index(k) for k in KEYWORD]
    rows = 0
    spent = 0.0
    rowid = 0
    with open(csv_path, newline='') as f:
        reader = csv.reader(f)
        while True:
            chunk = []
            for rec in reader:
                chunk.append([int(v) if c in INTS and v != '' else (float(v) if c == 'duration_ms' and v != '' else (v if v != '' else None)) for c, v in zip(COLUMNS, rec)])
                if len(chunk) == batch:
                    break
            if not chunk:
                break
            fts_rows = []
            for r in chunk:
                rowid += 1
                fts_rows.append([rowid] + [r[i] for i in kw_idx])
            t0 = time.perf_counter()
            db.execute('BEGIN')
            db.executemany(ins, chunk)
            db.executemany(fts, fts_rows)
            db.execute('COMMIT')
            spent += time.perf_counter() - t0
            rows += len(chunk)
    db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    page_size = db.execute('PRAGMA page_size').fetchone()[0]
    pages = db.execute('PRAGMA page_count').fetchone()[0] - db.execute('PRAGMA freelist_count').fetchone()[0]
    db.close()
    size = pages * page_size
    print(json.dumps({'rows': rows, 'seconds': spent, 'rows_per_s': rows / spent if spent else 0,
                      'bytes': size, 'file_bytes': os.path.getsize(path), 'bytes_per_row': size / rows if rows else 0}))


def fts_phrase(q):
    return '"' + q.replace('"', '""') + '"'


def build(q):
    where, args = [], []
    if q.get('q'):
        where.append('r.rowid IN (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ?)')
        args.append(fts_phrase(q['q']))
    for col in ('login', 'email', 'ip', 'method', 'source', 'realm'):
        if q.get(col) is not None:
            where.append(f'r.{col} = ?')
            args.append(q[col])
    if q.get('from') is not None:
        where.append('r.ts >= ?')
        args.append(q['from'])
    if q.get('to') is not None:
        where.append('r.ts <= ?')
        args.append(q['to'])
    sql = f"SELECT {', '.join('r.' + c for c in COLUMNS)} FROM requests r" + (' WHERE ' + ' AND '.join(where) if where else '') + ' ORDER BY r.ts DESC, r.id DESC LIMIT ?'
    args.append(q.get('limit', 50))
    return sql, args


def query(path, queries_path):
    db = sqlite3.connect(path)
    with open(queries_path) as f:
        queries = json.load(f)
    for item in queries:
        sql, args = build(item['query'])
        t0 = time.perf_counter()
        ids = [r[0] for r in db.execute(sql, args).fetchall()]
        ms = (time.perf_counter() - t0) * 1000
        print(json.dumps({'shape': item['shape'], 'i': item['i'], 'ms': ms, 'ids': ids}), flush=True)
    db.close()


if __name__ == '__main__':
    if len(sys.argv) == 5 and sys.argv[1] == 'load':
        load(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == 'query':
        query(sys.argv[2], sys.argv[3])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
