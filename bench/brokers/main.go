// Command brokers is the broker scale-out benchmark: JetStream in → native
// W1 → JetStream out with 1, 2 and 3 `pipe run` replicas sharing one
// durable consumer, beside `nats bench` (publish and durable consume) on the
// same server with the same message size for the raw JetStream rate.
//
//	make nats-cli && go run ./bench/brokers -n 200000
//
// It starts its own nats-server (bin/nats-server, from make fixtures) on a
// free 127.0.0.1 port with JetStream in a temporary directory, loads n
// records of the shared generator (seed 42) into the stream IN once, and
// for each replica count deletes the consumer and the output stream, starts
// the replicas and times them until the consumer has nothing pending or
// unacknowledged and OUT holds every expected record. It prints a Markdown
// table (bench/RESULTS.md has a section for it).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipe-dev/pipe/internal/gendata"
	"github.com/pipe-dev/pipe/internal/natstest"
	"github.com/pipe-dev/pipe/internal/replica"
)

const pipeline = `name: w1-jetstream-bench
input:
  type: nats_jetstream
  codec: ndjson
  urls: ['${NATS_URL}']
  stream: IN
  durable: w1
  max_ack_pending: ${MAX_ACK_PENDING:-8192}
  batch_size: 1024
output:
  type: nats_jetstream
  codec: ndjson
  urls: ['${NATS_URL}']
  subject: out.w1
  stream: OUT
  create_stream: {subjects: [out.>]}
stages:
  - {name: errors, type: native, use: select, config: {field: level, equals: error}}
  - {name: shout, type: native, use: case, config: {field: msg, to: upper}}
  - {name: mark, type: native, use: set, config: {fields: {processed: true}}}
`

func main() {
	n := flag.Int("n", 200_000, "input records")
	maxReplicas := flag.Int("replicas", 3, "run with 1..replicas replicas")
	flag.StringVar(&profileDir, "cpuprofile", "", "write each replica's CPU profile into this directory")
	flag.Parse()
	if err := run(*n, *maxReplicas); err != nil {
		fmt.Fprintln(os.Stderr, "brokers:", err)
		os.Exit(1)
	}
}

var profileDir string

func run(n, maxReplicas int) error {
	root, err := natstest.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "pipe-bench-brokers")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := natstest.Launch(natstest.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	// The input: n records of the shared generator, one message each.
	var data bytes.Buffer
	if err := gendata.Write(&data, n, 42); err != nil {
		return err
	}
	size := data.Len() / n
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.>"}}); err != nil {
		return err
	}
	want := 0
	sc := bufio.NewScanner(&data)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"level":"error"`)) {
			want++
		}
		if err := publishAsync(ctx, js, "in.logs", bytes.Clone(sc.Bytes())); err != nil {
			return err
		}
	}
	<-js.PublishAsyncComplete()

	fmt.Printf("Broker scale-out (%d records of the shared generator, %d B average, %d expected out), %d cores, %s\n\n",
		n, size, want, runtime.NumCPU(), runtime.Version())
	fmt.Println("| what | clients/replicas | seconds | messages/s (input) | vs raw consume | nats-server CPU s | pipe CPU s |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")

	// The raw JetStream rates of nats bench, same server, same size.
	nb := filepath.Join(root, "bin", "nats")
	var rawConsume float64
	if _, err := os.Stat(nb); err != nil {
		fmt.Println("| nats bench | - | - | skipped: bin/nats missing (make nats-cli) | - |")
	} else {
		cpu0 := srv.CPUTime()
		pub, err := natsBench(nb, srv.URL, n, size, "js", "pub", "async", "rawbench.x", "--stream=rawbench", "--create", "--purge")
		if err != nil {
			return err
		}
		cpu1 := srv.CPUTime()
		fmt.Printf("| nats bench js pub async | 1 | %.2f | %.0f | - | %.2f | - |\n", float64(n)/pub, pub, (cpu1 - cpu0).Seconds())
		rawConsume, err = natsBench(nb, srv.URL, n, size, "js", "consume", "--stream=rawbench")
		if err != nil {
			return err
		}
		fmt.Printf("| nats bench js consume (durable, acks) | 1 | %.2f | %.0f | 1.00x | %.2f | - |\n", float64(n)/rawConsume, rawConsume, (srv.CPUTime() - cpu1).Seconds())
	}

	if _, err := replica.Binary(); err != nil { // build pipe before timing it
		return err
	}
	pf := filepath.Join(dir, "w1.yaml")
	if err := os.WriteFile(pf, []byte(pipeline), 0o644); err != nil {
		return err
	}
	for r := 1; r <= maxReplicas; r++ {
		// A fresh consumer and output for each replica count.
		js.DeleteConsumer(ctx, "IN", "w1")
		js.DeleteStream(ctx, "OUT")
		start, cpu0 := time.Now(), srv.CPUTime()
		var reps []*replica.Replica
		for i := range r {
			var args []string
			if profileDir != "" {
				args = []string{"--cpuprofile", filepath.Join(profileDir, fmt.Sprintf("r%d-%d.prof", r, i))}
			}
			rep, err := replica.LaunchArgs(dir, pf, args, "NATS_URL="+srv.URL)
			if err != nil {
				return err
			}
			reps = append(reps, rep)
		}
		err := waitDone(ctx, js, want)
		secs, srvCPU := time.Since(start).Seconds(), (srv.CPUTime() - cpu0).Seconds()
		var pipeCPU time.Duration
		for _, rep := range reps {
			if code := rep.Stop(time.Minute); code != 143 {
				fmt.Fprintf(os.Stderr, "replica exited %d:\n%s\n", code, rep.Output())
			}
			pipeCPU += rep.CPUTime()
		}
		if err != nil {
			return err
		}
		rate := float64(n) / secs
		ratio := "-"
		if rawConsume > 0 {
			ratio = fmt.Sprintf("%.2fx", rate/rawConsume)
		}
		fmt.Printf("| pipe W1, JetStream in and out | %d | %.2f | %.0f | %s | %.2f | %.2f |\n", r, secs, rate, ratio, srvCPU, pipeCPU.Seconds())
	}
	return nil
}

// waitDone waits until the consumer w1 has nothing pending or
// unacknowledged and OUT holds want messages.
func waitDone(ctx context.Context, js jetstream.JetStream, want int) error {
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
		c, err := js.Consumer(ctx, "IN", "w1")
		if err != nil {
			continue
		}
		info, err := c.Info(ctx)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			continue
		}
		if info.NumRedelivered > 0 {
			fmt.Fprintf(os.Stderr, "note: %d messages redelivered\n", info.NumRedelivered)
		}
		st, err := js.Stream(ctx, "OUT")
		if err != nil {
			continue
		}
		si, err := st.Info(ctx)
		if err == nil && si.State.Msgs >= uint64(want) {
			return nil
		}
	}
}

var rateRe = regexp.MustCompile(`([0-9,]+) msgs/sec`)

// natsBench runs nats bench and returns the messages/s of its stats line.
func natsBench(bin, url string, n, size int, args ...string) (float64, error) {
	args = append([]string{"bench"}, args...)
	args = append(args, "-s", url, "--msgs="+strconv.Itoa(n), "--size="+strconv.Itoa(size)+"B", "--no-progress")
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("nats %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if m := rateRe.FindStringSubmatch(line); m != nil && strings.Contains(line, "stats:") {
			return strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
		}
	}
	return 0, fmt.Errorf("no rate in the output of nats %s:\n%s", strings.Join(args, " "), out)
}

// publishAsync publishes, waiting while too many publishes are unacknowledged.
func publishAsync(ctx context.Context, js jetstream.JetStream, subj string, data []byte) error {
	for {
		_, err := js.PublishAsync(subj, data)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return err
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
