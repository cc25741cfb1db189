package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Every server namespace runs the project's load generator on loadgenPort
// and, where throughput is measured, iperf3 on iperfPort.
const (
	loadgenPort = 7000
	iperfPort   = 5201
)

// metric is one kind of measurement.
type metric string

const (
	mRR   metric = "rr"   // 1-byte round trips/s on one connection
	mCRR  metric = "crr"  // new connections/s: connect, 1-byte exchange, close
	mTput metric = "tput" // iperf3, one stream, Gbit/s
	mUDP  metric = "udp"  // unconnected 1-byte datagrams/s, both ways counted
)

func (m metric) unit() string {
	switch m {
	case mRR:
		return "round trips/s"
	case mCRR:
		return "connections/s"
	case mTput:
		return "Gbit/s"
	case mUDP:
		return "datagrams/s"
	}
	return ""
}

// target says how to reach one system's server from its client: the whole
// difference between systems, as far as the measuring code is concerned.
type target struct {
	client *netns     // where the client runs
	addr   string     // loadgen server, ip:port as the client dials it
	iperf  string     // iperf3 server ip as the client dials it ("" = none)
	flush  []*netns   // namespaces whose conntrack table is flushed before each run
	reset  [][]string // commands run before each run too (a dataplane's own conntrack flush)
}

// startServers starts a loadgen server (and iperf3 if asked) in n, pinned to
// the measuring CPU, and waits until they listen.
func (h *harness) startServers(n *netns, withIperf bool) error {
	cpu := strconv.Itoa(h.cfg.cpu)
	p, err := h.s.start("loadgen-"+n.label(), []string{h.loadgen, "server", "-netns", n.path, "-cpu", cpu,
		"-listen", fmt.Sprintf(":%d", loadgenPort)}, nil)
	if err != nil {
		return err
	}
	if err := h.s.waitListening(n, loadgenPort, p); err != nil {
		return err
	}
	if !withIperf {
		return nil
	}
	return h.startIperf(n)
}

// startIperf starts an iperf3 server in n, pinned like the rest.
func (h *harness) startIperf(n *netns) error {
	argv := n.exec("taskset", "-c", strconv.Itoa(h.cfg.cpu), "iperf3", "-s", "-p", strconv.Itoa(iperfPort))
	p, err := h.s.start("iperf3-"+n.label(), argv, nil)
	if err != nil {
		return err
	}
	return h.s.waitListening(n, iperfPort, p)
}

// measure runs one measurement of metric m against t and returns its rate
// (round trips/s, connections/s or Gbit/s).
func (h *harness) measure(t *target, m metric) (float64, error) {
	for _, n := range t.flush {
		// Exit status 1 only means the namespace has no conntrack table yet.
		_, _ = h.s.run(n.exec("conntrack", "-F")...)
	}
	for _, c := range t.reset {
		if _, err := h.s.run(c...); err != nil {
			return 0, fmt.Errorf("before the run: %w", err)
		}
	}
	switch m {
	case mRR, mCRR, mUDP:
		return h.loadgenRun(t, m)
	case mTput:
		return h.iperfRun(t)
	}
	return 0, fmt.Errorf("unknown metric %q", m)
}

type loadgenResult struct {
	Rate    float64 `json:"rate"`
	Count   int64   `json:"count"`
	Errors  int64   `json:"errors"`
	LastErr string  `json:"last_error"`
}

func (h *harness) loadgenRun(t *target, m metric) (float64, error) {
	argv := []string{h.loadgen, string(m), "-netns", t.client.path, "-cpu", strconv.Itoa(h.cfg.cpu),
		"-connect", t.addr, "-duration", h.runDur.String()}
	out, err := h.bounded(h.runDur+30*time.Second, argv)
	if err != nil {
		return 0, err
	}
	var r loadgenResult
	if err := json.Unmarshal([]byte(lastLine(out)), &r); err != nil {
		return 0, fmt.Errorf("loadgen output %q: %w", lastLine(out), err)
	}
	// A few failed connects in a connection-rate run (a port still in use)
	// are noise; more means the path is broken and the rate meaningless.
	if r.Errors > 0 && r.Errors*100 > r.Count {
		return 0, fmt.Errorf("%d of %d connections failed: %s", r.Errors, r.Count+r.Errors, r.LastErr)
	}
	if r.Count == 0 {
		return 0, fmt.Errorf("no %s completed", m)
	}
	return r.Rate, nil
}

func (h *harness) iperfRun(t *target) (float64, error) {
	if t.iperf == "" {
		return 0, fmt.Errorf("no iperf3 server on this path")
	}
	secs := strconv.Itoa(h.tputSecs)
	argv := t.client.exec("taskset", "-c", strconv.Itoa(h.cfg.cpu),
		"iperf3", "-c", t.iperf, "-p", strconv.Itoa(iperfPort), "-t", secs, "-J")
	out, err := h.bounded(time.Duration(h.tputSecs)*time.Second+30*time.Second, argv)
	if err != nil {
		return 0, err
	}
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return 0, fmt.Errorf("iperf3 output: %w", err)
	}
	if r.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", r.Error)
	}
	return r.End.SumReceived.BitsPerSecond / 1e9, nil
}

// bounded runs a client with a hard time limit and returns its stdout.
func (h *harness) bounded(limit time.Duration, argv []string) (string, error) {
	ctx, cancel := context.WithTimeout(h.s.ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return "", fmt.Errorf("%s: %w: %s", argv[0], err, msg)
	}
	return string(out), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
