// Command chart draws bench/results.svg from the TSV that bench/run.sh
// writes: records/s per tool, grouped by workload, with the reference
// tools beside pipe's stage kinds. It is a module of its own so that the
// plotting library stays out of pipe's dependencies.
//
//	go run . ../results.tsv ../results.svg
package main

import (
	"bufio"
	"fmt"
	"image/color"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

type row struct {
	workload, tool string
	rps            float64
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: chart RESULTS.tsv OUT.svg")
		os.Exit(2)
	}
	rows, err := read(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
	if err := draw(rows, os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

// read parses lines "workload<TAB>tool<TAB>records/s".
func read(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s:%d: want workload, tool, records/s", path, n)
		}
		v, err := strconv.ParseFloat(parts[2], 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		rows = append(rows, row{parts[0], parts[1], v})
	}
	return rows, sc.Err()
}

func draw(rows []row, out string) error {
	var workloads, tools []string
	seenW, seenT := map[string]bool{}, map[string]bool{}
	val := map[[2]string]float64{}
	for _, r := range rows {
		if !seenW[r.workload] {
			seenW[r.workload] = true
			workloads = append(workloads, r.workload)
		}
		if !seenT[r.tool] {
			seenT[r.tool] = true
			tools = append(tools, r.tool)
		}
		val[[2]string{r.workload, r.tool}] = math.Log10(max(r.rps, 1))
	}
	sort.Strings(workloads)
	p := plot.New()
	p.Title.Text = "Throughput per workload (input records/s, log scale, higher is better)"
	p.Y.Label.Text = "records/s"
	p.Y.Tick.Marker = powerTicks{}
	p.Legend.Top = true
	p.Legend.Left = false
	w := vg.Points(min(14, 220/float64(max(len(tools), 1))))
	for i, t := range tools {
		var vals plotter.Values
		for _, wl := range workloads {
			vals = append(vals, val[[2]string{wl, t}])
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.LineStyle.Width = vg.Length(0)
		bars.Color = palette(i, t)
		bars.Offset = w * vg.Length(float64(i)-float64(len(tools)-1)/2)
		p.Add(bars)
		p.Legend.Add(t, bars)
	}
	p.NominalX(workloads...)
	p.Y.Min = 3 // bars start at 1k records/s; slower ones are not worth a bar
	p.Y.Max = math.Ceil(p.Y.Max + 0.1)
	return p.Save(vg.Length(26)*vg.Centimeter, vg.Length(13)*vg.Centimeter, out)
}

// powerTicks label log10 values as powers of ten (1k, 10k, ... 100M).
type powerTicks struct{}

func (powerTicks) Ticks(lo, hi float64) []plot.Tick {
	names := map[int]string{3: "1k", 4: "10k", 5: "100k", 6: "1M", 7: "10M", 8: "100M", 9: "1G"}
	var ts []plot.Tick
	for e := int(math.Floor(lo)); e <= int(math.Ceil(hi)); e++ {
		ts = append(ts, plot.Tick{Value: float64(e), Label: names[e]})
	}
	return ts
}

// palette gives the reference tools greys and pipe's kinds colours.
func palette(i int, tool string) color.Color {
	if !strings.HasPrefix(tool, "pipe") {
		g := uint8(90 + 40*(i%4))
		return color.RGBA{g, g, g, 255}
	}
	cols := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
		{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {23, 190, 207, 255}, {188, 189, 34, 255}}
	return cols[i%len(cols)]
}
