package compress

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func TestReaderDetectsByMagic(t *testing.T) {
	var gz, zs bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("gz line\n"))
	zw.Close()
	ze, _ := zstd.NewWriter(&zs)
	ze.Write([]byte("zstd line\n"))
	ze.Close()
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"plain", []byte("a\nb\n"), "a\nb\n"},
		{"plain starting like gzip", []byte{0x1f, '\n'}, "\x1f\n"},
		{"plain starting like zstd", []byte{0x28, 0xb5, 'x', '\n'}, "\x28\xb5x\n"},
		{"gzip", gz.Bytes(), "gz line\n"},
		{"zstd", zs.Bytes(), "zstd line\n"},
		{"empty", nil, ""},
	} {
		for _, one := range []bool{false, true} {
			var src io.Reader = bytes.NewReader(tc.in)
			if one { // a pipe that delivers one byte per read
				src = iotest.OneByteReader(src)
			}
			got, err := io.ReadAll(Reader(src))
			if err != nil || string(got) != tc.want {
				t.Errorf("%s (one byte per read %v): %q, %v; want %q", tc.name, one, got, err, tc.want)
			}
		}
	}
}

func TestReaderTruncated(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte("some text\n"), 500))
	zw.Close()
	_, err := io.ReadAll(Reader(bytes.NewReader(gz.Bytes()[:gz.Len()/2])))
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
}

func TestKind(t *testing.T) {
	for path, want := range map[string]string{"a.gz": "gzip", "A.GZ": "gzip", "b.zst": "zstd", "c.zstd": "zstd", "d.log": "", "e": ""} {
		if got := Kind(path); got != want {
			t.Errorf("Kind(%q) = %q, want %q", path, got, want)
		}
	}
}
