package policy

import (
	"fmt"
	"sync"
	"testing"
)

// Parsers are pooled; a parsed result must stay intact while other
// goroutines parse with the same (returned) parser. Run with -race.
func TestParseMySQLConcurrentResultsStayIntact(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			text := fmt.Sprintf("SELECT %d; SELECT %d FROM t%d; USE db%d", g, g+100, g, g)
			for range 300 {
				stmts, err := parseMySQL(text)
				if err != nil {
					t.Error(err)
					return
				}
				// Give another goroutine time to reuse the parser we returned.
				for range 3 {
					if _, err := parseMySQL("SELECT 1"); err != nil {
						t.Error(err)
						return
					}
				}
				if len(stmts) != 3 {
					t.Errorf("goroutine %d: %d statements, want 3", g, len(stmts))
					return
				}
				if got, want := stmts[0].Text(), fmt.Sprintf("SELECT %d;", g); got != want {
					t.Errorf("goroutine %d: statement 1 is %q, want %q", g, got, want)
					return
				}
				if got, want := stmts[1].Text(), fmt.Sprintf(" SELECT %d FROM t%d;", g+100, g); got != want {
					t.Errorf("goroutine %d: statement 2 is %q, want %q", g, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
