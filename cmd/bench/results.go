package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// metric is one row of the results table.
type metric struct {
	name   string
	unit   string // "msg/s", "ms", "MiB", "us"
	higher bool   // whether a higher figure is better
	vals   map[string]float64
	notes  map[string]string
}

// results collects the figures of every server in the order they were first
// recorded.
type results struct {
	servers []string
	rows    []*metric
	byName  map[string]*metric
	notes   []string
}

func newResults(servers []string) *results {
	return &results{servers: servers, byName: map[string]*metric{}}
}

func (r *results) row(name, unit string, higher bool) *metric {
	m, ok := r.byName[name]
	if !ok {
		m = &metric{name: name, unit: unit, higher: higher, vals: map[string]float64{}, notes: map[string]string{}}
		r.byName[name] = m
		r.rows = append(r.rows, m)
	}
	return m
}

func (r *results) set(name, unit string, higher bool, server string, v float64) {
	r.row(name, unit, higher).vals[server] = v
}

func (r *results) setNote(name, unit string, higher bool, server, note string) {
	r.row(name, unit, higher).notes[server] = note
}

func (r *results) setDuration(name, server string, d time.Duration) {
	r.set(name, "ms", false, server, float64(d)/float64(time.Millisecond))
}

func (r *results) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// get returns a recorded figure.
func (r *results) get(name, server string) (float64, bool) {
	m, ok := r.byName[name]
	if !ok {
		return 0, false
	}
	v, ok := m.vals[server]
	return v, ok
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "ms":
		switch {
		case v >= 100:
			return fmt.Sprintf("%.0f ms", v)
		case v >= 10:
			return fmt.Sprintf("%.1f ms", v)
		default:
			return fmt.Sprintf("%.2f ms", v)
		}
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case "msg/s":
		return fmt.Sprintf("%.0f msg/s", v)
	case "rooms/s":
		return fmt.Sprintf("%.1f rooms/s", v)
	case "us":
		return fmt.Sprintf("%.0f µs", v)
	case "KiB":
		return fmt.Sprintf("%.0f KiB", v)
	}
	return fmt.Sprintf("%.3g %s", v, unit)
}

// ratio formats a/b.
func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "–"
	}
	q := a / b
	switch {
	case q >= 10:
		return fmt.Sprintf("%.0f×", q)
	case q >= 1:
		return fmt.Sprintf("%.2f×", q)
	default:
		return fmt.Sprintf("%.3f×", q)
	}
}

// writeTable writes the results as a Markdown table: one column per server,
// and with exactly two servers a last column, the first divided by the
// second.
func (r *results) writeTable(w io.Writer) {
	head := []string{"measure"}
	head = append(head, r.servers...)
	two := len(r.servers) == 2
	if two {
		head = append(head, r.servers[0]+"/"+r.servers[1])
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	seps := make([]string, len(head))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, m := range r.rows {
		cells := []string{m.name}
		for _, s := range r.servers {
			v, ok := m.vals[s]
			cell := "–"
			if ok {
				cell = formatValue(v, m.unit)
			}
			if n := m.notes[s]; n != "" {
				if ok {
					cell += " (" + n + ")"
				} else {
					cell = n
				}
			}
			cells = append(cells, cell)
		}
		if two {
			a, okA := m.vals[r.servers[0]]
			b, okB := m.vals[r.servers[1]]
			if okA && okB {
				cells = append(cells, ratio(a, b))
			} else {
				cells = append(cells, "–")
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
}
