"""Connects with PyMySQL and prints one seeded email."""
import os
import sys

import pymysql

conn = pymysql.connect(
    host=os.environ["MYSQL_HOST"],
    port=int(os.environ["MYSQL_PORT"]),
    user=os.environ["MYSQL_USER"],
    password=os.environ["MYSQL_PASSWORD"],
    database=os.environ["MYSQL_DATABASE"],
    ssl={"ca": os.environ["MYSQL_CA"]},
)
with conn.cursor() as cur:
    cur.execute("SELECT email FROM users WHERE id = %s", (int(sys.argv[1]),))
    print(cur.fetchone()[0])
conn.close()
