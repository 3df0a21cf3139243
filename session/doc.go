// Package session owns a session's lifecycle and its record: the index row,
// the query log (databases), the events log and the terminal recordings
// (shells).
//
// API CONTRACT (engines rely on it; keep signatures stable):
//
//	store, err := session.OpenStore(dataDir, session.Options{...})
//	s, err := store.Open(ctx, session.Info{...}, rec) // refuses when the record cannot be written (fail closed)
//	s.LogQuery(session.QueryEvent{...})              // cheap, buffered, flushed at least every FlushInterval
//	s.SetTag(k, v)                                   // client tags learned after open
//	c, err := s.OpenCast(session.CastHeader{...})    // one asciicast per terminal channel
//	s.LogEvent("file_transfer", map[string]any{...}) // non-terminal events
//	s.Close(session.StatusOK, nil)                   // exactly once; later calls are no-ops
//
// # Data dir layout
//
//	<data_dir>/                        0700
//	  index.db, index.db-wal, -shm     SQLite index (WAL), one row per session
//	  sessions/<YYYYMMDD>/<id>/        one directory per session, 0700
//	    queries.jsonl.zst              database sessions: one QueryEvent per line
//	    events.jsonl.zst               every session: one Event per line
//	    cast-<n>.cast.zst              terminal channels: asciicast v2, one file per channel;
//	                                   binary chunks (invalid UTF-8, or mostly control bytes)
//	                                   are "ob"/"ib" events with base64 data, turned back into
//	                                   "o"/"i" by the replay package (export is plain asciicast)
//	    chain.jsonl                    one ChainEntry per flushed chunk (plain JSON lines)
//	    seal.json                      written at Close: the chain head and file sizes
//
// Session ids are time-prefixed (20261122-001503-ab12cd34, UTC) so they sort
// by start time and name their day directory.
//
// Every .zst file is a concatenation of complete zstd frames, one frame per
// flush, each holding whole lines. A crash therefore loses at most the lines
// buffered since the last flush (FlushInterval, default 1s) and the file
// stays readable up to its last complete frame.
//
// Each flushed frame is linked into a SHA-256 hash chain over the whole
// session (link = SHA-256(previous link || file name || offset || frame)),
// appended to chain.jsonl, and the final link is sealed into seal.json and
// the index row at Close. Verify recomputes the chain: a changed, removed,
// reordered or truncated chunk, or a file grown after the seal, is reported.
// The chain is unkeyed: it detects damage and naive edits, not an attacker who
// can rewrite the data, the chain, the seal and the index together.
package session
