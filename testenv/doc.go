// Package testenv starts REAL servers from the machine's binaries for tests,
// benchmarks and `sluice demo`: Postgres, MariaDB, OpenSSH's sshd and
// pgbouncer, each on a free loopback port in its own temp dir, with TLS from
// a throwaway CA (tlsca.go). Nothing here is a mock.
//
// When a binary is missing the *ForTest helpers fail the test naming the
// Debian package to install (`make test` installs them); they never skip.
//
// Servers started with Start* live until Stop, independent of the context
// passed to Start (which bounds only the start-up). A server start costs
// about a second (Postgres initdb, MariaDB install-db), so a package that
// needs one server for many tests can share it from TestMain:
//
//	var pg *testenv.Postgres
//
//	func TestMain(m *testing.M) {
//		var err error
//		pg, err = testenv.StartPostgres(context.Background(), testenv.PostgresOptions{})
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		pg.Stop()
//		os.Exit(code)
//	}
//
// Running as root (CI, these machines), Postgres and pgbouncer run as the
// `postgres` system user, MariaDB as `mysql` (both refuse or dislike root),
// and sshd as root logging users in as `sluicetest` (created when missing).
// If the test binary dies without Stop, the servers get a parent-death
// signal; only their temp dirs under $TMPDIR/sluice-* are left behind.
//
// Clients: RunNode and RunPython run the real Node (pg, mysql2 from
// testenv/clients) and Python (Debian's psycopg2, pymysql) drivers.
package testenv
