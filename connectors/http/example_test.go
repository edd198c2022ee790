package httpout_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	httpout "github.com/pipe-dev/pipe/connectors/http"
	"github.com/pipe-dev/pipe/stage"
)

// A Client used on its own: two requests of at most two records.
func ExampleClient() {
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Printf("%s %q\n", r.Header.Get("Content-Type"), b)
	}))
	defer dest.Close()
	c, err := httpout.New(httpout.Config{URL: dest.URL, Batch: httpout.BatchConfig{MaxRecords: 2}}, "ndjson")
	if err != nil {
		panic(err)
	}
	if err := c.Connect(context.Background()); err != nil {
		panic(err)
	}
	defer c.Close(context.Background())
	recs := []*stage.Record{stage.NewRecord([]byte(`{"n":1}`)), stage.NewRecord([]byte(`{"n":2}`)), stage.NewRecord([]byte(`{"n":3}`))}
	fmt.Println(c.Write(context.Background(), recs))
	// Output:
	// application/x-ndjson "{\"n\":1}\n{\"n\":2}\n"
	// application/x-ndjson "{\"n\":3}\n"
	// <nil>
}
