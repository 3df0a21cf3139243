"""Runs statements through PyMySQL and prints one JSON line per statement.

Usage: python3 mysql_client.py MODE SQL...  (MODE: "query", or "ssl" for TLS)
Connection from SLUICE_MYSQL_HOST, _PORT, _USER, _PASSWORD, _DB.
Each line is {"sql", "rows"} or {"sql", "errno", "message"}.
"""
import json
import os
import sys

import pymysql


def main():
    mode, stmts = sys.argv[1], sys.argv[2:]
    kw = dict(
        host=os.environ["SLUICE_MYSQL_HOST"],
        port=int(os.environ["SLUICE_MYSQL_PORT"]),
        user=os.environ["SLUICE_MYSQL_USER"],
        password=os.environ["SLUICE_MYSQL_PASSWORD"],
        database=os.environ["SLUICE_MYSQL_DB"],
    )
    if mode == "ssl":
        kw["ssl"] = {"check_hostname": False, "verify_mode": 0}
    conn = pymysql.connect(**kw)
    try:
        for sql in stmts:
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    rows = [list(r) for r in cur.fetchall()] if cur.description else []
                print(json.dumps({"sql": sql, "rows": rows}, default=str))
            except pymysql.err.MySQLError as err:
                print(json.dumps({"sql": sql, "errno": err.args[0], "message": err.args[1] if len(err.args) > 1 else ""}))
    finally:
        conn.close()


if __name__ == "__main__":
    main()
