package native

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// strftime layouts for parse_time: compiled once into ops, then parsed
// and formatted without allocating.
//
// Directives: %Y %y %m %d %e %H %I %M %S %p %f %L %N %b %h %B %a %A %j %z
// %:z %Z %s %T %D %F %R %n %t %%.

type tfOp struct {
	dir byte   // the directive, or 0 for a literal
	lit string // the literal text
}

type strftime struct {
	zones   map[int]*time.Location // fixed zones by offset, made once (not shared between instances)
	ops     []tfOp
	hasYear bool
	hasDate bool // year, month or day given
	hasZone bool
	unix    bool
}

var (
	longMonths = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September",
		"October", "November", "December"}
	shortDays = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays  = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

// compileStrftime compiles layout.
func compileStrftime(layout string) (*strftime, error) {
	f := &strftime{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.ops = append(f.ops, tfOp{lit: lit.String()})
			lit.Reset()
		}
	}
	dir := func(d byte) {
		flush()
		f.ops = append(f.ops, tfOp{dir: d})
	}
	for i := 0; i < len(layout); i++ {
		c := layout[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(layout) {
			return nil, errors.New("layout ends with %")
		}
		i++
		d := layout[i]
		switch d {
		case '%':
			lit.WriteByte('%')
		case 'n', 't':
			lit.WriteByte(' ')
		case 'Y', 'y':
			f.hasYear, f.hasDate = true, true
			dir(d)
		case 'm', 'd', 'e', 'b', 'h', 'B', 'j':
			f.hasDate = true
			dir(d)
		case 'H', 'I', 'M', 'S', 'p', 'f', 'L', 'N', 'a', 'A', 'Z':
			dir(d)
		case 'z':
			f.hasZone = true
			dir(d)
		case ':':
			if i+1 < len(layout) && layout[i+1] == 'z' {
				i++
				f.hasZone = true
				dir('Z' + 1) // '[' stands for %:z
				continue
			}
			return nil, fmt.Errorf("unknown directive %%%c", d)
		case 's':
			f.unix = true
			dir(d)
		case 'T':
			dir('H')
			lit.WriteByte(':')
			dir('M')
			lit.WriteByte(':')
			dir('S')
		case 'R':
			dir('H')
			lit.WriteByte(':')
			dir('M')
		case 'D':
			f.hasYear, f.hasDate = true, true
			dir('m')
			lit.WriteByte('/')
			dir('d')
			lit.WriteByte('/')
			dir('y')
		case 'F':
			f.hasYear, f.hasDate = true, true
			dir('Y')
			lit.WriteByte('-')
			dir('m')
			lit.WriteByte('-')
			dir('d')
		default:
			return nil, fmt.Errorf("unknown directive %%%c", d)
		}
	}
	flush()
	if len(f.ops) == 0 {
		return nil, errors.New("empty layout")
	}
	return f, nil
}

// num reads between lo and hi digits from b at i.
func num(b []byte, i, lo, hi int) (v, next int, ok bool) {
	j := i
	for j < len(b) && j-i < hi && b[j] >= '0' && b[j] <= '9' {
		v = v*10 + int(b[j]-'0')
		j++
	}
	return v, j, j-i >= lo
}

// name matches one of names (or their first three letters, when abbr)
// case-insensitively at b[i:].
func name(b []byte, i int, names []string, abbr bool) (idx, next int, ok bool) {
	for k, n := range names {
		if len(b)-i >= len(n) && strings.EqualFold(string(b[i:i+len(n)]), n) {
			return k, i + len(n), true
		}
	}
	if abbr {
		for k, n := range names {
			if len(b)-i >= 3 && strings.EqualFold(string(b[i:i+3]), n[:3]) {
				return k, i + 3, true
			}
		}
	}
	return 0, i, false
}

var errTimeLayout = errors.New("does not match the layout")

// parse parses b in loc (the zone of a time without one); now gives the
// year of a layout without one.
func (f *strftime) parse(b []byte, loc *time.Location, now func() time.Time) (time.Time, error) {
	year, month, day, hour, minute, sec, nsec, yday := 1970, 1, 1, 0, 0, 0, 0, 0
	pm, hasPM, hour12 := false, false, false
	var unix int64
	hasUnix := false
	zone := loc
	i := 0
	var ok bool
	fail := func() (time.Time, error) { return time.Time{}, fmt.Errorf("%q: byte %d %w", b, i+1, errTimeLayout) }
	for _, op := range f.ops {
		if op.dir == 0 {
			for k := 0; k < len(op.lit); k++ {
				c := op.lit[k]
				if c == ' ' {
					if i >= len(b) || b[i] != ' ' && b[i] != '\t' {
						return fail()
					}
					for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
						i++
					}
					continue
				}
				if i >= len(b) || b[i] != c {
					return fail()
				}
				i++
			}
			continue
		}
		switch op.dir {
		case 'Y':
			year, i, ok = num(b, i, 4, 4)
		case 'y':
			year, i, ok = num(b, i, 2, 2)
			if year < 69 {
				year += 2000
			} else {
				year += 1900
			}
		case 'm':
			month, i, ok = num(b, i, 1, 2)
			ok = ok && month >= 1 && month <= 12
		case 'd':
			day, i, ok = num(b, i, 1, 2)
			ok = ok && day >= 1 && day <= 31
		case 'e':
			if i < len(b) && b[i] == ' ' {
				i++
			}
			day, i, ok = num(b, i, 1, 2)
			ok = ok && day >= 1 && day <= 31
		case 'H':
			hour, i, ok = num(b, i, 1, 2)
			ok = ok && hour <= 23
		case 'I':
			hour, i, ok = num(b, i, 1, 2)
			ok = ok && hour >= 1 && hour <= 12
			hour12 = true
		case 'M':
			minute, i, ok = num(b, i, 1, 2)
			ok = ok && minute <= 59
		case 'S':
			sec, i, ok = num(b, i, 1, 2)
			ok = ok && sec <= 60
		case 'f', 'N', 'L':
			start := i
			hi := 9
			if op.dir == 'L' {
				hi = 3
			}
			nsec, i, ok = num(b, i, 1, hi)
			for k := i - start; k < 9; k++ {
				nsec *= 10
			}
		case 'p':
			ok = false
			if len(b)-i >= 2 {
				switch strings.ToUpper(string(b[i : i+2])) {
				case "AM":
					ok, hasPM = true, true
				case "PM":
					ok, hasPM, pm = true, true, true
				}
				i += 2
			}
		case 'b', 'h', 'B':
			month, i, ok = name(b, i, longMonths[:], true)
			month++
		case 'a', 'A':
			_, i, ok = name(b, i, longDays[:], true)
		case 'j':
			yday, i, ok = num(b, i, 1, 3)
			ok = ok && yday >= 1 && yday <= 366
		case 'z', '[':
			zone, i, ok = f.offset(b, i)
		case 'Z':
			j := i
			for j < len(b) && (b[j] >= 'A' && b[j] <= 'Z' || b[j] >= 'a' && b[j] <= 'z') {
				j++
			}
			ok = j > i
			switch string(b[i:j]) {
			case "UTC", "GMT", "Z":
				zone = time.UTC
			}
			i = j
		case 's':
			j := i
			if j < len(b) && b[j] == '-' {
				j++
			}
			var n int
			n, j, ok = num(b, j, 1, 19)
			_ = n
			if ok {
				unix, ok = parseInt64(b[i:j])
				hasUnix = true
			}
			i = j
		}
		if !ok {
			return fail()
		}
	}
	if i != len(b) {
		return time.Time{}, fmt.Errorf("%q: extra text at byte %d", b, i+1)
	}
	if hasUnix {
		return time.Unix(unix, int64(nsec)).In(zone), nil
	}
	if hour12 {
		if !hasPM {
			return time.Time{}, fmt.Errorf("%q: %%I needs %%p", b)
		}
		hour %= 12
		if pm {
			hour += 12
		}
	} else if hasPM && pm && hour < 12 {
		hour += 12
	}
	if !f.hasYear {
		n := now().In(zone)
		year = n.Year()
		// A date in the future by more than a day is last year's
		// (syslog's Dec 31 read on Jan 1).
		if time.Date(year, time.Month(month), day, hour, minute, sec, nsec, zone).After(n.Add(24 * time.Hour)) {
			year--
		}
	}
	if yday > 0 {
		t := time.Date(year, 1, yday, hour, minute, sec, nsec, zone)
		if t.Year() != year {
			return time.Time{}, fmt.Errorf("%q: day of year %d out of range", b, yday)
		}
		return t, nil
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, zone)
	if t.Day() != day {
		return time.Time{}, fmt.Errorf("%q: day %d out of range for the month", b, day)
	}
	return t, nil
}

func parseInt64(b []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// parseOffset reads Z, +hh, +hhmm or +hh:mm at b[i:].
func parseOffset(b []byte, i int) (*time.Location, int, bool) {
	off, j, ok := offsetSeconds(b, i)
	if !ok {
		return nil, i, false
	}
	if off == 0 {
		return time.UTC, j, true
	}
	return time.FixedZone("", off), j, true
}

// offsetSeconds reads Z, +hh, +hhmm or +hh:mm at b[i:] as seconds east
// of UTC.
func offsetSeconds(b []byte, i int) (int, int, bool) {
	if i < len(b) && (b[i] == 'Z' || b[i] == 'z') {
		return 0, i + 1, true
	}
	if i >= len(b) || b[i] != '+' && b[i] != '-' {
		return 0, i, false
	}
	sign := 1
	if b[i] == '-' {
		sign = -1
	}
	h, j, ok := num(b, i+1, 2, 2)
	if !ok {
		return 0, i, false
	}
	m := 0
	if j < len(b) && b[j] == ':' {
		if m, j, ok = num(b, j+1, 2, 2); !ok {
			return 0, i, false
		}
	} else if j+1 < len(b) && b[j] >= '0' && b[j] <= '9' {
		if m, j, ok = num(b, j, 2, 2); !ok {
			return 0, i, false
		}
	}
	if h > 23 || m > 59 {
		return 0, i, false
	}
	return sign * (h*3600 + m*60), j, true
}

// format appends t formatted by the layout to dst.
func (f *strftime) format(dst []byte, t time.Time) []byte {
	pad := func(dst []byte, v, width int, c byte) []byte {
		var buf [20]byte
		s := strconv.AppendInt(buf[:0], int64(v), 10)
		for k := len(s); k < width; k++ {
			dst = append(dst, c)
		}
		return append(dst, s...)
	}
	for _, op := range f.ops {
		switch op.dir {
		case 0:
			dst = append(dst, op.lit...)
		case 'Y':
			dst = pad(dst, t.Year(), 4, '0')
		case 'y':
			dst = pad(dst, t.Year()%100, 2, '0')
		case 'm':
			dst = pad(dst, int(t.Month()), 2, '0')
		case 'd':
			dst = pad(dst, t.Day(), 2, '0')
		case 'e':
			dst = pad(dst, t.Day(), 2, ' ')
		case 'H':
			dst = pad(dst, t.Hour(), 2, '0')
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			dst = pad(dst, h, 2, '0')
		case 'M':
			dst = pad(dst, t.Minute(), 2, '0')
		case 'S':
			dst = pad(dst, t.Second(), 2, '0')
		case 'f':
			dst = pad(dst, t.Nanosecond()/1000, 6, '0')
		case 'L':
			dst = pad(dst, t.Nanosecond()/1e6, 3, '0')
		case 'N':
			dst = pad(dst, t.Nanosecond(), 9, '0')
		case 'p':
			if t.Hour() < 12 {
				dst = append(dst, "AM"...)
			} else {
				dst = append(dst, "PM"...)
			}
		case 'b', 'h':
			dst = append(dst, months[t.Month()-1]...)
		case 'B':
			dst = append(dst, longMonths[t.Month()-1]...)
		case 'a':
			dst = append(dst, shortDays[t.Weekday()]...)
		case 'A':
			dst = append(dst, longDays[t.Weekday()]...)
		case 'j':
			dst = pad(dst, t.YearDay(), 3, '0')
		case 'z', '[':
			_, off := t.Zone()
			sign := byte('+')
			if off < 0 {
				sign, off = '-', -off
			}
			dst = append(dst, sign)
			dst = pad(dst, off/3600, 2, '0')
			if op.dir == '[' {
				dst = append(dst, ':')
			}
			dst = pad(dst, off%3600/60, 2, '0')
		case 'Z':
			name, off := t.Zone()
			if name == "" {
				dst = f.formatOffsetName(dst, off)
				continue
			}
			dst = append(dst, name...)
		case 's':
			dst = strconv.AppendInt(dst, t.Unix(), 10)
		}
	}
	return dst
}

// formatOffsetName writes a zone without a name as +hh:mm.
func (f *strftime) formatOffsetName(dst []byte, off int) []byte {
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Appendf(dst, "%c%02d:%02d", sign, off/3600, off%3600/60)
}

// offset reads a zone offset as offsetSeconds does; the zone of each
// offset is made once.
func (f *strftime) offset(b []byte, i int) (*time.Location, int, bool) {
	off, j, ok := offsetSeconds(b, i)
	if !ok {
		return nil, i, false
	}
	if off == 0 {
		return time.UTC, j, true
	}
	if z, ok := f.zones[off]; ok {
		return z, j, true
	}
	if f.zones == nil || len(f.zones) > 64 {
		f.zones = map[int]*time.Location{}
	}
	z := time.FixedZone("", off)
	f.zones[off] = z
	return z, j, true
}
