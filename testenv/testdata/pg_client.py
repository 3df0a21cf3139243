"""Connects with psycopg2 to PG_URL and prints one seeded email."""
import os
import sys

import psycopg2

conn = psycopg2.connect(os.environ["PG_URL"])
with conn, conn.cursor() as cur:
    cur.execute("SELECT email FROM users WHERE id = %s", (int(sys.argv[1]),))
    print(cur.fetchone()[0])
conn.close()
