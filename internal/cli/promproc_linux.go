package cli

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// collectProcess adds the process_* series of client_golang's process
// collector, read from /proc/self like procfs does (a series whose file
// cannot be read is left out).
func collectProcess(s *promSet) {
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		// Fields after the command's closing parenthesis, from field 3.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 {
			f := strings.Fields(string(b[i+1:]))
			num := func(field int) float64 {
				if field-3 >= len(f) {
					return 0
				}
				v, _ := strconv.ParseFloat(f[field-3], 64)
				return v
			}
			const userHZ = 100 // what procfs assumes too
			s.add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", promCounter, (num(14)+num(15))/userHZ)
			s.add("process_virtual_memory_bytes", "Virtual memory size in bytes.", promGauge, num(23))
			s.add("process_resident_memory_bytes", "Resident memory size in bytes.", promGauge, num(24)*float64(os.Getpagesize()))
			if boot := bootTime(); boot > 0 {
				s.add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", promGauge, boot+num(22)/userHZ)
			}
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.add("process_open_fds", "Number of open file descriptors.", promGauge, float64(len(fds)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		s.add("process_max_fds", "Maximum number of open file descriptors.", promGauge, float64(lim.Cur))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		s.add("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", promGauge, float64(lim.Cur))
	}
	if in, out, ok := netOctets(); ok {
		s.add("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", promCounter, in)
		s.add("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", promCounter, out)
	}
}

// bootTime is the btime of /proc/stat, 0 if unknown.
func bootTime() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			t, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return t
		}
	}
	return 0
}

// netOctets reads InOctets and OutOctets of the IpExt lines of
// /proc/self/net/netstat (the process's network namespace).
func netOctets() (in, out float64, ok bool) {
	b, err := os.ReadFile("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, false
	}
	var header []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "IpExt:" {
			continue
		}
		if header == nil {
			header = f
			continue
		}
		for i := 1; i < len(f) && i < len(header); i++ {
			v, _ := strconv.ParseFloat(f[i], 64)
			switch header[i] {
			case "InOctets":
				in, ok = v, true
			case "OutOctets":
				out = v
			}
		}
		return in, out, ok
	}
	return 0, 0, false
}
