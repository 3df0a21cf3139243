"""Runs a fixed scenario through psycopg2 against SLUICE_PG_DSN and prints
one JSON object: a plain and a parameterized query, a committed and a
rolled-back transaction, an error with its SQLSTATE, a server-side (named)
cursor read with fetchmany, and COPY both ways with copy_expert. The Go test
asserts on the output."""
import io
import json
import os

import psycopg2


def main():
    conn = psycopg2.connect(os.environ["SLUICE_PG_DSN"])
    out = {}
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM users")
    out["plain"] = cur.fetchone()[0]
    cur.execute("SELECT id, name FROM users WHERE id = %s OR name = %s ORDER BY id", (3, "User 7"))
    out["param"] = [list(r) for r in cur.fetchall()]
    conn.commit()

    cur.execute("CREATE TEMP TABLE pt(x int, s text)")
    cur.execute("INSERT INTO pt VALUES (%s, %s), (%s, %s)", (1, "a", 2, "b"))
    conn.commit()
    cur.execute("INSERT INTO pt VALUES (100, 'rolled back')")
    conn.rollback()
    cur.execute("SELECT sum(x) FROM pt")
    out["tx"] = cur.fetchone()[0]
    conn.commit()

    try:
        cur.execute("SELECT 1/0")
        out["error"] = None
    except psycopg2.Error as e:
        out["error"] = {"code": e.pgcode, "message": e.pgerror}
        conn.rollback()

    # A named cursor is DECLARE ... CURSOR plus FETCH FORWARD n on the server.
    named = conn.cursor(name="big")
    named.itersize = 500
    named.execute("SELECT id, email FROM users ORDER BY id")
    batches, total, first = 0, 0, None
    while True:
        rows = named.fetchmany(1000)
        if not rows:
            break
        if first is None:
            first = list(rows[0])
        batches += 1
        total += len(rows)
    named.close()
    conn.commit()
    out["cursor"] = {"batches": batches, "rows": total, "first": first}

    buf = io.StringIO("".join("%d\trow %d\n" % (i, i) for i in range(10, 1010)))
    cur.copy_expert("COPY pt FROM STDIN", buf)
    conn.commit()
    dst = io.StringIO()
    cur.copy_expert("COPY (SELECT x, s FROM pt ORDER BY x) TO STDOUT WITH (FORMAT csv)", dst)
    lines = dst.getvalue().splitlines()
    out["copy"] = {"lines": len(lines), "first": lines[0], "last": lines[-1]}
    conn.commit()
    cur.execute("SELECT 1")
    out["after"] = cur.fetchone()[0]
    conn.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
