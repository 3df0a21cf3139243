package ssh

import "testing"

func TestScreenLineEditing(t *testing.T) {
	for _, c := range []struct {
		name, out, want string
	}{
		{"plain", "$ ls -l", "ls -l"},
		{"backspace redraw", "$ rm -rf /xyz\b\b\b\x1b[K", "rm -rf /"},
		{"cursor left and insert", "$ rm /\x1b[2D\x1b[4@-rf \x1b[4D", "rm-rf  /"},
		{"history recall", "$ ls\r\x1b[C\x1b[C\x1b[Kcat /etc/passwd", "cat /etc/passwd"},
		{"delete chars", "$ rmxx -rf\x1b[6D\x1b[2P", "rm -rf"},
		{"title and colours", "\x1b]0;user@host\x07\x1b[1;32m$ \x1b[0mecho hi", "echo hi"},
		{"utf-8", "$ echo h\xc3\xa9llo", "echo héllo"},
	} {
		s := newScreen(40, 5)
		s.write([]byte(c.out))
		if got := s.text(2, 0); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestScreenWrapsLongLines(t *testing.T) {
	s := newScreen(10, 3)
	s.write([]byte("$ echo 0123456789abcdef"))
	if got := s.text(2, 0); got != "echo 0123456789abcdef" {
		t.Fatalf("got %q", got)
	}
	// Scrolling keeps the line readable from its shifted start.
	s = newScreen(10, 2)
	s.write([]byte("x\r\n$ echo 0123456789"))
	if s.scrolled != 1 || s.text(2, 0) != "echo 0123456789" {
		t.Fatalf("scrolled %d text %q", s.scrolled, s.text(2, 0))
	}
}

func TestScreenAlternateScreen(t *testing.T) {
	s := newScreen(20, 5)
	s.write([]byte("$ vim\x1b[?1049h~\x1b[5;1H:q"))
	if !s.alt {
		t.Fatal("alternate screen not entered")
	}
	s.write([]byte("\x1b[?1049l"))
	if s.alt || s.text(2, 0) != "vim" {
		t.Fatalf("alt %v text %q", s.alt, s.text(2, 0))
	}
}

// FuzzScreen feeds arbitrary server output and sizes to the emulator: it
// must never panic and the cursor must stay on screen.
func FuzzScreen(f *testing.F) {
	f.Add([]byte("$ ls\r\n\x1b[31mred\x1b[0m\x1b[2J\x1b[H"), uint16(80), uint16(24))
	f.Add([]byte("\x1b[999;999H\x1b[999P\x1b[999@\x1b[999X\x1b[?1049h\x1b[?1049l"), uint16(1), uint16(1))
	f.Add([]byte("\x1b]0;"+string(make([]byte, 5000))+"\x07\xf0\x9f\x98"), uint16(3), uint16(2))
	f.Add([]byte("\x1b[1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;18m\x1b7\x1b8\x1bM\x1bc"), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, out []byte, w, h uint16) {
		s := newScreen(int(w), int(h))
		half := len(out) / 2
		s.write(out[:half])
		s.resize(int(h)+1, int(w)+1)
		s.write(out[half:])
		if s.x < 0 || s.x >= s.w || s.y < 0 || s.y >= s.h || len(s.params) > maxVTParams {
			t.Fatalf("cursor %d,%d off a %dx%d screen", s.x, s.y, s.w, s.h)
		}
		_ = s.text(int(w)%7, int(h)%5)
	})
}

// A line started before the prompt was drawn (typed ahead) still yields
// the command itself as a candidate, so it cannot hide behind the prompt.
func TestLineGuardCandidatesSurviveMisplacedStart(t *testing.T) {
	g := &lineGuard{scr: newScreen(80, 5)}
	g.started = true // start snapshot at column 0, before the prompt
	g.scr.write([]byte("user@host:~$ rm -rf /srv"))
	lines, ok := g.lines()
	if !ok || len(lines) != 2 || lines[0].text != "rm -rf /srv" || lines[1].text != "user@host:~$ rm -rf /srv" || !lines[1].primary {
		t.Fatalf("candidates %+v", lines)
	}
}
