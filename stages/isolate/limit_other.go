//go:build !linux

package isolate

import "errors"

// limitData: only Linux limits the child's memory (RLIMIT_DATA counts
// mappings only there since Linux 4.7); elsewhere the child is isolated but
// not limited.
func limitData(int64) error {
	return errors.New("OS memory limits are implemented on Linux only")
}
