package ssh

import "unicode/utf8"

// screen is a minimal VT100/xterm screen emulator: enough of the cursor and
// erase controls that shells' line editors (readline, zle, libedit) use to
// tell what the command line on screen reads. It is fed the server's
// output, never interprets it beyond that, and is bounded: every parameter
// and escape string has a limit, and nothing it is fed can make it panic.
type screen struct {
	w, h           int
	cells          [][]rune
	wrapped        []bool // row i continues on row i+1 (autowrap)
	x, y           int
	pendingWrap    bool
	savedX, savedY int

	alt         bool // the alternate screen (full-screen programs) is shown
	mainCells   [][]rune
	mainWrapped []bool

	// scrolled counts rows scrolled off the top since the last resetScroll.
	scrolled int

	// escape parser state
	state   vtState
	params  []int
	cur     int
	hasCur  bool
	private byte
	oscLen  int
	utf     []byte
}

type vtState uint8

const (
	stGround vtState = iota
	stEsc
	stCSI
	stOSC
	stOSCEsc
	stCharset
)

const (
	maxVTParams = 16
	maxVTParam  = 10000
	maxOSC      = 4096
)

func newScreen(w, h int) *screen {
	s := &screen{}
	s.resize(w, h)
	return s
}

func blankRows(w, h int) [][]rune {
	rows := make([][]rune, h)
	for i := range rows {
		rows[i] = blankRow(w)
	}
	return rows
}

func blankRow(w int) []rune {
	r := make([]rune, w)
	for i := range r {
		r[i] = ' '
	}
	return r
}

// resize changes the size, keeping what fits (top-left anchored).
func (s *screen) resize(w, h int) {
	w, h = max(1, min(w, maxTermDimension)), max(1, min(h, maxTermDimension))
	if w*h > 1<<22 {
		w, h = 1<<11, 1<<11
	}
	fit := func(old [][]rune) [][]rune {
		rows := blankRows(w, h)
		for y := 0; y < h && y < len(old); y++ {
			copy(rows[y], old[y])
		}
		return rows
	}
	s.cells = fit(s.cells)
	s.wrapped = make([]bool, h)
	if s.mainCells != nil {
		s.mainCells = fit(s.mainCells)
		s.mainWrapped = make([]bool, h)
	}
	s.w, s.h = w, h
	s.x, s.y = min(s.x, w-1), min(s.y, h-1)
	s.pendingWrap = false
}

// write feeds server output to the emulator.
func (s *screen) write(p []byte) {
	for _, b := range p {
		s.feed(b)
	}
}

func (s *screen) feed(b byte) {
	switch s.state {
	case stEsc:
		s.escape(b)
		return
	case stCSI:
		s.csiByte(b)
		return
	case stOSC:
		switch {
		case b == 0x07:
			s.state = stGround
		case b == 0x1b:
			s.state = stOSCEsc
		default:
			s.oscLen++
			if s.oscLen > maxOSC {
				s.state = stGround
			}
		}
		return
	case stOSCEsc:
		s.state = stGround // ESC \ ends the string; anything else is dropped with it
		return
	case stCharset:
		s.state = stGround
		return
	}
	if len(s.utf) > 0 || b >= 0x80 {
		s.utf = append(s.utf, b)
		if utf8.FullRune(s.utf) || len(s.utf) >= utf8.UTFMax {
			r, _ := utf8.DecodeRune(s.utf)
			s.utf = s.utf[:0]
			s.put(r)
		}
		return
	}
	switch b {
	case 0x1b:
		s.state = stEsc
	case '\r':
		s.x, s.pendingWrap = 0, false
	case '\n', '\v', '\f':
		s.lineFeed()
	case '\b':
		if s.pendingWrap {
			s.pendingWrap = false
		} else if s.x > 0 {
			s.x--
		}
	case '\t':
		s.x = min(s.w-1, (s.x/8+1)*8)
	default:
		if b >= 0x20 && b != 0x7f {
			s.put(rune(b))
		}
	}
}

func (s *screen) put(r rune) {
	if s.pendingWrap {
		s.wrapped[s.y] = true
		s.x = 0
		s.lineFeed()
		s.pendingWrap = false
	}
	s.cells[s.y][s.x] = r
	if s.x == s.w-1 {
		s.pendingWrap = true
	} else {
		s.x++
	}
}

func (s *screen) lineFeed() {
	if s.y < s.h-1 {
		s.y++
		return
	}
	copy(s.cells, s.cells[1:])
	s.cells[s.h-1] = blankRow(s.w)
	copy(s.wrapped, s.wrapped[1:])
	s.wrapped[s.h-1] = false
	s.scrolled++
}

func (s *screen) escape(b byte) {
	s.state = stGround
	switch b {
	case '[':
		s.state, s.params, s.cur, s.hasCur, s.private = stCSI, s.params[:0], 0, false, 0
	case ']':
		s.state, s.oscLen = stOSC, 0
	case '(', ')', '*', '+', '#', '%':
		s.state = stCharset
	case '7':
		s.savedX, s.savedY = s.x, s.y
	case '8':
		s.x, s.y = min(s.savedX, s.w-1), min(s.savedY, s.h-1)
	case 'M': // reverse index
		if s.y > 0 {
			s.y--
		}
	case 'D':
		s.lineFeed()
	case 'E':
		s.x = 0
		s.lineFeed()
	case 'c':
		s.cells, s.wrapped = blankRows(s.w, s.h), make([]bool, s.h)
		s.x, s.y = 0, 0
	}
}

func (s *screen) csiByte(b byte) {
	switch {
	case b >= '0' && b <= '9':
		s.cur = min(s.cur*10+int(b-'0'), maxVTParam)
		s.hasCur = true
	case b == ';' || b == ':':
		s.pushParam()
	case b == '?' || b == '>' || b == '=' || b == '<':
		s.private = b
	case b >= 0x40 && b <= 0x7e:
		s.pushParam()
		s.state = stGround
		s.csi(b)
	case b >= 0x20 && b <= 0x2f:
		// intermediate bytes: ignored
	default:
		s.state = stGround // a control inside CSI aborts it
	}
}

func (s *screen) pushParam() {
	if len(s.params) < maxVTParams {
		if s.hasCur {
			s.params = append(s.params, s.cur)
		} else {
			s.params = append(s.params, 0)
		}
	}
	s.cur, s.hasCur = 0, false
}

// param returns parameter i, or def when absent or zero.
func (s *screen) param(i, def int) int {
	if i < len(s.params) && s.params[i] != 0 {
		return s.params[i]
	}
	return def
}

func (s *screen) csi(final byte) {
	s.pendingWrap = false
	n := s.param(0, 1)
	switch final {
	case 'A':
		s.y = max(0, s.y-n)
	case 'B', 'e':
		s.y = min(s.h-1, s.y+n)
	case 'C', 'a':
		s.x = min(s.w-1, s.x+n)
	case 'D':
		s.x = max(0, s.x-n)
	case 'E':
		s.x, s.y = 0, min(s.h-1, s.y+n)
	case 'F':
		s.x, s.y = 0, max(0, s.y-n)
	case 'G', '`':
		s.x = min(s.w-1, n-1)
	case 'd':
		s.y = min(s.h-1, n-1)
	case 'H', 'f':
		s.y, s.x = min(s.h-1, s.param(0, 1)-1), min(s.w-1, s.param(1, 1)-1)
	case 'K':
		s.eraseLine(s.param(0, 0))
	case 'J':
		s.eraseDisplay(s.param(0, 0))
	case 'P':
		row := s.cells[s.y]
		n = min(n, s.w-s.x)
		copy(row[s.x:], row[s.x+n:])
		fill(row[s.w-n:])
	case '@':
		row := s.cells[s.y]
		n = min(n, s.w-s.x)
		copy(row[s.x+n:], row[s.x:s.w-n])
		fill(row[s.x : s.x+n])
	case 'X':
		fill(s.cells[s.y][s.x:min(s.w, s.x+n)])
	case 'h', 'l':
		if s.private == '?' {
			for _, m := range s.params {
				if m == 1049 || m == 1047 || m == 47 {
					s.setAlt(final == 'h')
				}
			}
		}
	}
}

func fill(r []rune) {
	for i := range r {
		r[i] = ' '
	}
}

func (s *screen) eraseLine(mode int) {
	row := s.cells[s.y]
	switch mode {
	case 0:
		fill(row[s.x:])
		s.wrapped[s.y] = false
	case 1:
		fill(row[:s.x+1])
	case 2:
		fill(row)
		s.wrapped[s.y] = false
	}
}

func (s *screen) eraseDisplay(mode int) {
	switch mode {
	case 0:
		s.eraseLine(0)
		for y := s.y + 1; y < s.h; y++ {
			fill(s.cells[y])
			s.wrapped[y] = false
		}
	case 1:
		s.eraseLine(1)
		for y := 0; y < s.y; y++ {
			fill(s.cells[y])
		}
	case 2, 3:
		for y := range s.cells {
			fill(s.cells[y])
			s.wrapped[y] = false
		}
	}
}

func (s *screen) setAlt(on bool) {
	if on == s.alt {
		return
	}
	if on {
		s.mainCells, s.mainWrapped = s.cells, s.wrapped
		s.cells, s.wrapped = blankRows(s.w, s.h), make([]bool, s.h)
		s.savedX, s.savedY = s.x, s.y
	} else {
		s.cells, s.wrapped = s.mainCells, s.mainWrapped
		s.mainCells, s.mainWrapped = nil, nil
		s.x, s.y = min(s.savedX, s.w-1), min(s.savedY, s.h-1)
	}
	s.alt = on
}

// text returns the characters from (x0, y0) to the end of the logical line
// that starts there (following autowrapped rows), with trailing blanks cut.
func (s *screen) text(x0, y0 int) string {
	if y0 < 0 || y0 >= s.h {
		return ""
	}
	x0 = max(0, min(x0, s.w))
	var out []rune
	for y := y0; y < s.h; y++ {
		start := 0
		if y == y0 {
			start = x0
		}
		out = append(out, s.cells[y][start:]...)
		if !s.wrapped[y] && y >= s.y {
			break
		}
		if !s.wrapped[y] {
			// The line continues below only if the cursor is there (a
			// shell that draws the continuation itself, without autowrap).
			if y+1 > s.y {
				break
			}
		}
	}
	for len(out) > 0 && out[len(out)-1] == ' ' {
		out = out[:len(out)-1]
	}
	return string(out)
}
