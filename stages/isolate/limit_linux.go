package isolate

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// limitData sets RLIMIT_DATA to what the process maps now (VmData: its
// private writable mappings, which is what the limit counts; the Go
// runtime's PROT_NONE reservations do not count) plus limit. An mmap past
// it fails and the Go runtime exits with "fatal error: out of memory".
func limitData(limit int64) error {
	now, err := vmData()
	if err != nil {
		return err
	}
	lim := uint64(now + limit)
	return syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: lim, Max: lim})
}

// vmData reads VmData from /proc/self/status, in bytes.
func vmData() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmData:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 2 && string(f[1]) == "kB" {
				kb, err := strconv.ParseInt(string(f[0]), 10, 64)
				if err != nil {
					return 0, err
				}
				return kb << 10, nil
			}
		}
	}
	return 0, fmt.Errorf("no VmData in /proc/self/status")
}
