package httpserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/tidwall/gjson"
)

// httpError is a request the server refuses with Status.
type httpError struct {
	Status int
	Msg    string
	Record int // 1-based record (line) number the error is about; 0: none
}

func (e *httpError) Error() string { return e.Msg }

// readBody reads the request body, decompressing gzip, bounded by max
// bytes both on the wire and after decompression.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, &httpError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body of %d bytes is over max_body_bytes (%d)", r.ContentLength, max)}
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, max)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, bodyErr(err, "gzip body")
		}
		defer zr.Close()
		body = zr
	default:
		return nil, &httpError{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("Content-Encoding %q is not supported (use gzip or none)", enc)}
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.Header.Get("Content-Encoding") == "" {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(body, max+1))
	if err != nil {
		return nil, bodyErr(err, "read body")
	}
	if n > max {
		return nil, &httpError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("decompressed body is over max_body_bytes (%d)", max)}
	}
	return buf.Bytes(), nil
}

func bodyErr(err error, op string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &httpError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body is over max_body_bytes (%d)", mbe.Limit)}
	}
	return &httpError{Status: http.StatusBadRequest, Msg: op + ": " + err.Error()}
}

// split frames body into records: under lines each line (newline
// stripped; a last line without newline counts, empty lines are records);
// under ndjson each non-blank line, which must be one JSON value; under
// raw the whole (non-empty) body. Records
// alias body. A record over maxRecord bytes or a line that is not JSON
// refuses the whole body (400), so a client never has half a body taken.
func split(body []byte, codec string, maxRecord int) ([][]byte, error) {
	if codec == "raw" {
		if len(body) == 0 {
			return nil, nil
		}
		return [][]byte{body}, nil
	}
	n := bytes.Count(body, []byte{'\n'}) + 1
	recs := make([][]byte, 0, n)
	line := 0
	for len(body) > 0 {
		var rec []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			rec, body = body[:i], body[i+1:]
		} else {
			rec, body = body, nil
		}
		line++
		if codec == "ndjson" {
			rec = bytes.TrimRight(bytes.TrimLeft(rec, " \t\r"), " \t\r")
			if len(rec) == 0 {
				continue
			}
		}
		if len(rec) > maxRecord {
			return nil, &httpError{Status: http.StatusBadRequest, Record: line, Msg: fmt.Sprintf("line %d: record of %d bytes is over max_record_bytes (%d)", line, len(rec), maxRecord)}
		}
		if codec == "ndjson" && !gjson.ValidBytes(rec) {
			return nil, &httpError{Status: http.StatusBadRequest, Record: line, Msg: fmt.Sprintf("line %d: not one JSON value (codec is ndjson)", line)}
		}
		recs = append(recs, rec)
	}
	return recs, nil
}
