package httpserver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	httpserver "github.com/pipe-dev/pipe/connectors/http_server"
)

// A Server used on its own: a consumer takes each request's records and
// acknowledges them; the client's answer waits for the acknowledgement.
func ExampleServer() {
	srv, err := httpserver.New(httpserver.Config{Address: "127.0.0.1:0", Codec: "ndjson"})
	if err != nil {
		panic(err)
	}
	if err := srv.Open(context.Background()); err != nil {
		panic(err)
	}
	defer srv.Close(context.Background())
	go func() {
		req, err := srv.Next(context.Background())
		if err != nil {
			return
		}
		for _, rec := range req.Records {
			fmt.Printf("record %s\n", rec)
		}
		req.Ack(httpserver.Result{}) // delivered
	}()
	resp, err := http.Post(srv.URL(), "application/x-ndjson", strings.NewReader("{\"a\":1}\n{\"b\":2}\n"))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output:
	// record {"a":1}
	// record {"b":2}
	// 200 {"records":2}
}
